import { prisma } from "../lib/prisma";
import { getFolders, getProgramOrThrow, importSitemaps, usageByDay, verifyFolderAccess } from "../lib/guards";

// a cursor checked inside a conditional arm: the list waits for that check
export async function listLinks(workspaceId: string, cursorId?: string) {
  if (cursorId) {
    const cursor = await prisma.link.findUnique({ where: { id: cursorId } });
    if (!cursor || cursor.workspaceId !== workspaceId) {
      throw new Error("Invalid cursor.");
    }
  }
  return prisma.link.findMany({ where: { workspaceId }, take: 100 });
}

// validation helpers that throw come first on purpose
export async function getPayout(workspaceId: string, programId: string, payoutId: string) {
  await getProgramOrThrow({ workspaceId, programId });
  return prisma.payout.findUnique({ where: { id: payoutId } });
}

export async function linkTags(linkId: string, folderId: string, userId: string) {
  await verifyFolderAccess({ folderId, userId });
  return prisma.tag.findMany({ where: { linkId } });
}

export async function connectPaypal(contextId: string, userId: string, partnerId: string) {
  await prisma.user.findUniqueOrThrow({ where: { id: contextId } });
  return prisma.partnerUser.findUniqueOrThrow({ where: { userId_partnerId: { userId, partnerId } } });
}

// the second query reads what the first pushed into the list
export async function impersonate(email: string) {
  const emails: string[] = [email];
  const partner = await prisma.partner.findUnique({ where: { email }, include: { users: true } });
  if (partner) {
    emails.push(...partner.users.map((user) => user.email));
  }
  return prisma.user.findFirst({ where: { email: { in: emails } } });
}

// the count reads what the loop between the two reads created
export async function remapCodes(programId: string, links: { id: string }[]) {
  const workspace = await prisma.project.findUniqueOrThrow({ where: { defaultProgramId: programId } });
  for (const link of links) {
    await prisma.discountCode.create({ data: { linkId: link.id, workspaceId: workspace.id } }); // expect: DBA103
  }
  return prisma.discountCode.count({ where: { programId } });
}

// one value tested against two constants: never both arms
export async function validateScope(workspaceId: string, scope: string, linkIds: string[], folderIds: string[]) {
  if (scope === "links" && linkIds.length > 0) {
    const folders = await getFolders({ workspaceId });
    return folders.length;
  }
  if (scope === "folders" && folderIds.length > 0) {
    const folders = await getFolders({ workspaceId });
    return folders.map((folder) => folder.id);
  }
  return null;
}

// fields of an object a helper returns, and a value computed from other data: not rows
export async function importReport(workspaceId: string, days: string[]) {
  const { linksToCreate, created } = await importSitemaps(workspaceId);
  const usage = await usageByDay(workspaceId, days);
  return { found: linksToCreate.length, created, days: usage.length };
}

// true positives among them
export async function dashboard(workspaceId: string) {
  const links = await prisma.link.findMany({ where: { workspaceId }, take: 20 }); // expect: DBA105
  const total = await prisma.link.count({ where: { workspaceId } });
  return { links, total };
}

export async function deleteUser(userId: string) {
  const owned = await prisma.projectUsers.findMany({ where: { userId, role: "owner" } }); // expect: DBA108
  if (owned.length > 0) {
    throw new Error("Transfer your workspaces first.");
  }
  return prisma.user.delete({ where: { id: userId } });
}
