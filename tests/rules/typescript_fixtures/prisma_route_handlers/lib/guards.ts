import { prisma } from "./prisma";

export async function getProgramOrThrow({ programId, workspaceId }: { programId: string; workspaceId: string }) {
  const program = await prisma.program.findUnique({ where: { id: programId } });
  if (!program || program.workspaceId !== workspaceId) {
    throw new Error("Program not found.");
  }
  return program;
}

export async function verifyFolderAccess({ folderId, userId }: { folderId: string; userId: string }) {
  const access = await prisma.folderUser.findUnique({ where: { folderId_userId: { folderId, userId } } });
  if (!access) {
    throw new Error("Forbidden.");
  }
}

export async function getFolders({ workspaceId }: { workspaceId: string }) {
  return prisma.folder.findMany({ where: { workspaceId } });
}

export async function importSitemaps(workspaceId: string) {
  const existing = await prisma.link.findMany({ where: { workspaceId } });
  const created = existing.filter((link) => link.archived);
  return { linksToCreate: existing, created };
}

export async function usageByDay(workspaceId: string, days: string[]) {
  const folders = await prisma.folder.findMany({ where: { workspaceId } });
  const data = days.map((day) => ({ day, folder: folders.find((f) => f.day === day) }));
  return data;
}
