// The company's identity provider for tests/interop/mcp_idp.py: a real OpenID
// Provider (npm `oidc-provider`) on loopback, with one confidential client (Moat).
// People sign in on its development login page with their email as the login (any
// password). `unverified@example.com` comes with `email_verified: false`.
//
// Usage: node provider.mjs MOAT_BASE_URL CLIENT_SECRET
// Prints `issuer http://127.0.0.1:PORT` once listening.

import Provider from "oidc-provider";

const [moatBase, clientSecret] = process.argv.slice(2);
if (!moatBase || !clientSecret) {
  console.error("usage: node provider.mjs MOAT_BASE_URL CLIENT_SECRET");
  process.exit(2);
}

const configuration = {
  clients: [
    {
      client_id: "moat",
      client_secret: clientSecret,
      redirect_uris: [`${moatBase}/oauth/idp/callback`],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
  scopes: ["openid", "email", "profile"],
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: `idp-${id}`,
          email: id,
          email_verified: !id.startsWith("unverified"),
          name: id.split("@")[0],
        };
      },
    };
  },
  cookies: { keys: ["interop-cookie-key-0123456789abcdef"] },
  ttl: { AuthorizationCode: 60, IdToken: 300, Session: 600, Interaction: 600, Grant: 600 },
};

const server = (await import("node:http")).createServer();
server.listen(0, "127.0.0.1", () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, configuration);
  provider.on("server_error", (ctx, error) => console.error("provider error:", error));
  server.on("request", provider.callback());
  console.log(`issuer ${issuer}`);
});
