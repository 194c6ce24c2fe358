"""DBA102 calls a helper's query "the same row every item" only when nothing that changes with
the item reaches its conditions: a shared account key beside a per-item provider filter is
still a query per item (inbox-zero's MCP token lookup per connection was reported as one row
written N times, low)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from dbaudit.analysis import analyze
from dbaudit.findings import Severity
from dbaudit.frontends.typescript import parse

TOKENS = """\
import { prisma } from "./db";

export async function tokenFor({ provider, accountId }: { provider: string; accountId: string }) {
  const row = await prisma.connection.findFirst({
    where: { accountId, provider: { name: provider }, isActive: true },
  });
  if (!row) {
    await prisma.connection.updateMany({ where: { accountId }, data: { isActive: false } });
  }
  return row;
}

export async function saveProgress(accountId: string, step: string) {
  const row = await prisma.progress.findFirst({ where: { accountId } });
  await prisma.progress.update({ where: { id: row.id }, data: { step } });
}

export async function tokensForAll(accountId: string) {
  const connections = await prisma.connection.findMany({ where: { accountId }, take: 20 });
  const tokens = [];
  for (const connection of connections) {
    const provider = connection.provider;
    tokens.push(await tokenFor({ provider: provider.name, accountId }));
  }
  return tokens;
}

export async function fileMessage(accountId: string, messageId: string) {
  const drives = await prisma.driveConnection.findMany({ where: { accountId }, take: 5 });
  await prisma.filing.create({ data: { messageId, driveId: drives[0].id } });
}

export async function fileAll(accountId: string, messageIds: string[]) {
  for (const messageId of messageIds) {
    await fileMessage(accountId, messageId);
  }
}

export async function migrate(accountId: string, steps: string[]) {
  for (const step of steps) {
    await saveProgress(accountId, step);
  }
}
"""


def test_a_per_item_value_in_the_helpers_conditions_is_a_query_per_item(tmp_path: Path) -> None:
    (tmp_path / "tokens.ts").write_text(TOKENS)
    with contextlib.chdir(tmp_path):
        module = parse("tokens.ts", TOKENS).module
        found = {f.function: f for f in analyze([module], select=["DBA102"]).findings}
    per_connection = found["tokensForAll"]
    assert per_connection.severity == Severity.HIGH
    assert "queries connection once per connection" in per_connection.message
    # a value the helper only writes (each step recorded on the account's one row) is the same
    # row written N times, as before
    checkpoint = found["migrate"]
    assert checkpoint.severity == Severity.LOW
    assert "reads and writes the same progress row" in checkpoint.message
    # its writes go to another table: the read of the account's drives repeats, and the fix
    # says to read them once and pass them in (no "row written N times")
    filing = found["fileAll"]
    assert "runs the same query on driveConnection (key `accountId`)" in filing.message
    assert "pass its result in" in filing.fix.summary
