import { chunk } from "@dub/utils";
import { prisma } from "../lib/prisma";

const MAX_ATTEMPTS = 3;

async function deleteBatch(links: { id: string }[]) {
  const ids = links.map((link) => link.id);
  await prisma.discountCode.deleteMany({ where: { linkId: { in: ids } } });
  await prisma.link.deleteMany({ where: { id: { in: ids } } });
  await prisma.project.update({ where: { id: "p" }, data: { totalLinks: { decrement: ids.length } } });
}

// a helper handed one chunk per turn: batching by design
export async function bulkDeleteLinks(links: { id: string }[]) {
  const batches = chunk(links, 100);
  for (const [index, batch] of batches.entries()) {
    await deleteBatch(batch);
    console.log(`batch ${index}`);
  }
}

// chunks walked by index, and composite keys matched with OR over the chunk
export async function pendingPayouts(programId: string, partners: { partnerId: string; groupId: string }[]) {
  const partnerBatches = chunk(partners, 50);
  for (let i = 0; i < partnerBatches.length; i++) {
    const partnerChunk = partnerBatches[i];
    await prisma.payout.findMany({
      where: { programId, partnerId: { in: partnerChunk.map((p) => p.partnerId) } },
    });
  }
  for (const pairs of chunk(partners, 50)) {
    await prisma.commission.findMany({
      where: { OR: pairs.map(({ partnerId, groupId }) => ({ partnerId, groupId })) },
    });
  }
}

// retries: a constant number of attempts
export async function createCodeRecord(code: string) {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const existing = await prisma.discountCode.findUnique({ where: { code } });
    if (!existing) {
      return prisma.discountCode.create({ data: { code } });
    }
  }
  return null;
}

// a literal list of three fields, filtered
export async function syncBranding(programId: string, logo?: string, color?: string, font?: string) {
  await Promise.all(
    [
      { item: "logo", value: logo },
      { item: "color", value: color },
      { item: "font", value: font },
    ]
      .filter(({ value }) => value !== undefined)
      .map(({ item, value }) => prisma.program.update({ where: { id: programId }, data: { [item]: value } })),
  );
}

// one transaction per workspace, numbering its invoice: an atomic unit per item
export async function createInvoices(workspaces: { id: string; prefix: string }[]) {
  for (const workspace of workspaces) {
    await prisma.$transaction(async (tx) => {
      const total = await tx.invoice.count({ where: { workspaceId: workspace.id } });
      await tx.invoice.create({ data: { workspaceId: workspace.id, number: `${workspace.prefix}-${total + 1}` } });
    });
  }
}

// the default campaign sets the program's minimum once
export async function importCampaigns(programId: string, campaigns: { id: string; default: boolean; min: number }[]) {
  for (const campaign of campaigns) {
    await prisma.partnerGroup.upsert({ // expect: DBA103
      where: { programId_slug: { programId, slug: campaign.id } },
      create: { programId, slug: campaign.id },
      update: {},
    });
    if (campaign.default) {
      await prisma.program.update({ where: { id: programId }, data: { minPayoutAmount: campaign.min } });
    }
  }
}

// true positives among them
export async function retallyPayouts(payoutIds: string[]) {
  for (const payoutId of payoutIds) {
    const sum = await prisma.commission.aggregate({ where: { payoutId }, _sum: { earnings: true } }); // expect: DBA101
    const updateData = { amount: sum._sum.earnings ?? 0 };
    await prisma.payout.update({ where: { id: payoutId }, data: updateData }); // expect: DBA103
  }
}

export async function oneStatementTransactions(ids: string[]) {
  for (const id of ids) {
    await prisma.$transaction(async (tx) => {
      await tx.link.delete({ where: { id } }); // expect: DBA103
    });
  }
}
