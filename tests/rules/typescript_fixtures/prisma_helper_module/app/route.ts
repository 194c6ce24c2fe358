import { getStats } from "../queries/stats";

// one period and the one before it: neither needs the other's numbers
export async function GET(websiteId: string, from: Date, previous: Date) {
  const current = await getStats(websiteId, from); // expect: DBA105
  const before = await getStats(websiteId, previous);
  return { current, before };
}
