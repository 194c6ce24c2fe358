import prisma from "../lib/prisma";

export async function getWebsite(websiteId: string) {
  return prisma.client.website.findUnique({ where: { id: websiteId } });
}

export async function sharesOf(websites: { id: string }[]) {
  const shares = [];
  for (const website of websites) {
    shares.push(await prisma.client.share.findFirst({ where: { entityId: website.id } })); // expect: DBA101
  }
  return shares;
}

export async function saveData(sessionId: string, entries: { key: string; value: string }[]) {
  const { client } = prisma;
  for (const entry of entries) {
    const { key, value } = entry;
    await client.sessionData.updateMany({ where: { sessionId, dataKey: key }, data: { value } }); // expect: DBA103
  }
}

export async function archiveInChunks(chunks: string[][]) {
  const { client } = prisma;
  for (const ids of chunks) {
    // one statement per chunk of ids: batching already
    await client.website.updateMany({ where: { id: { in: ids } }, data: { archived: true } });
  }
}

export async function resetWebsite(websiteId: string) {
  const { transaction } = prisma;
  return transaction(async (tx: any) => {
    await tx.event.deleteMany({ where: { websiteId } });
    return tx.website.update({ where: { id: websiteId }, data: { resetAt: new Date() } });
  });
}

export async function listWebsites(userId: string, page: number) {
  const { pagedQuery } = prisma;
  return pagedQuery("website", { where: { userId } }, page);
}
