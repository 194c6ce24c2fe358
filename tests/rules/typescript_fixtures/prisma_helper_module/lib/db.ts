export const PRISMA = "prisma";
export const CLICKHOUSE = "clickhouse";

export async function runQuery(queries: Record<string, () => Promise<unknown>>) {
  if (process.env.CLICKHOUSE_URL) {
    return queries[CLICKHOUSE]();
  }
  return queries[PRISMA]();
}
