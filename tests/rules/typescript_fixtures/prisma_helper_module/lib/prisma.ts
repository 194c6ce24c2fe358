import { PrismaClient } from "../generated/prisma/client";

function getClient() {
  const base = new PrismaClient({ log: ["error"] });
  return base.$extends({});
}

// named neither prisma nor db: known as a Prisma client by the `$` methods called on it below
const client = (globalThis as any).prismaClient || getClient();

async function rawQuery(sql: string, params: Record<string, unknown>) {
  const schema = process.env.DB_SCHEMA;
  if (schema) {
    await client.$executeRawUnsafe(`SET search_path TO "${schema}";`);
  }
  if (process.env.REPLICA_URL) {
    return client.$replica().$queryRawUnsafe(sql, params);
  }
  return client.$queryRawUnsafe(sql, params);
}

async function pagedQuery(model: string, criteria: { where?: object }, page: number) {
  const data = await client[model].findMany({ ...criteria, take: 20, skip: 20 * page }); // expect: DBA105
  const count = await client[model].count({ where: criteria.where });
  return { data, count };
}

function transaction(input: any) {
  return client.$transaction(input);
}

export default { client, rawQuery, pagedQuery, transaction };
