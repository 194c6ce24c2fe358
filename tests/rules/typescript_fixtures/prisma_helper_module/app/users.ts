import { prisma as store } from "../lib/client";
import data from "../lib/prisma";

// the client imported under another name, and a helper module's default export named freely
export async function ownersOf(teams: { ownerId: string }[]) {
  const owners = [];
  for (const team of teams) {
    owners.push(await store.user.findUnique({ where: { id: team.ownerId } })); // expect: DBA101
  }
  return owners;
}

export async function membersOf(teamIds: string[]) {
  const members = [];
  for (const teamId of teamIds) {
    members.push(await data.client.teamUser.findMany({ where: { teamId } })); // expect: DBA101
  }
  return members;
}
