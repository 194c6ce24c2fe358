import { CLICKHOUSE, PRISMA, runQuery } from "../lib/db";
import prisma from "../lib/prisma";
import { chQuery } from "../lib/warehouse";

export async function getStats(websiteId: string, from: Date) {
  return runQuery({
    [PRISMA]: () => relationalStats(websiteId, from),
    [CLICKHOUSE]: () => chQuery("select count() from events", { websiteId }),
  });
}

async function relationalStats(websiteId: string, from: Date) {
  const { rawQuery } = prisma;
  const visits = await rawQuery( // expect: DBA105
    `select count(*) as n from website_event where website_id = {{websiteId}} and created_at >= {{from}}`,
    { websiteId, from },
  );
  const sessions = await rawQuery(
    `select count(distinct session_id) as n from website_event where website_id = {{websiteId}}`,
    { websiteId },
  );
  return { visits, sessions };
}

export async function recordThenCount(websiteId: string) {
  const { rawQuery } = prisma;
  // the insert must land before the count reads it: not independent
  await rawQuery(`insert into website_event (website_id) values ({{websiteId}})`, { websiteId });
  return rawQuery(`select count(*) from website_event where website_id = {{websiteId}}`, {
    websiteId,
  });
}

export async function twoLongReports(websiteId: string) {
  const { rawQuery } = prisma;
  // both texts begin with the same 200 characters and differ after them: not a repeated query
  // (DBA109), but two independent reads all the same
  const byCountry = await rawQuery( // expect: DBA105
    `with events as (select website_event.website_id, website_event.session_id, website_event.created_at from website_event where website_event.website_id = {{websiteId}} group by 1, 2, 3) select country, count(*) from events join session using (session_id) group by country`,
    { websiteId },
  );
  const byRegion = await rawQuery(
    `with events as (select website_event.website_id, website_event.session_id, website_event.created_at from website_event where website_event.website_id = {{websiteId}} group by 1, 2, 3) select region, count(*) from events join session using (session_id) group by region`,
    { websiteId },
  );
  return { byCountry, byRegion };
}
