// Client for the payments HTTP API, used by the dashboard.

export interface Balance {
  accountId: string;
  amountCents: number;
}

/** Fetches the balance of one account. */
export async function fetchBalance(baseUrl: string, accountId: string): Promise<Balance> {
  const response = await fetch(`${baseUrl}/accounts/${encodeURIComponent(accountId)}/balance`);
  if (!response.ok) {
    throw new Error(`balance request failed: ${response.status}`);
  }
  return (await response.json()) as Balance;
}

export class TransferClient {
  constructor(private readonly baseUrl: string) {}

  /** Requests a transfer; the server answers once it is booked. */
  async transfer(from: string, to: string, amountCents: number): Promise<void> {
    await fetch(`${this.baseUrl}/transfers`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ from, to, amountCents }),
    });
  }
}
