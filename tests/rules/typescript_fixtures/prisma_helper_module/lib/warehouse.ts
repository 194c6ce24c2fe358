export async function chQuery(sql: string, params: object) {
  return fetch(process.env.CLICKHOUSE_URL as string, { method: "POST", body: sql });
}
