// A real OpenID provider (oidc-provider) for tests/sso: authorization code flow with PKCE, ID
// tokens signed by its own keys and published as JWKS. Any user name logs in (its development
// login form); each account's `groups` claim comes from ACCOUNTS below. Clients: `router`, and
// `other` (its ID tokens have another audience). Usage: node provider.js PORT REDIRECT_URI
import Provider from 'oidc-provider';

const [port, redirect] = process.argv.slice(2);
const ACCOUNTS = {
  'ada@example.com': ['kuflow-admins'],
  'olu@example.com': ['kuflow-ops', 'staff'],
  'vic@example.com': ['staff'],
  'nobody@example.com': [],
};
const client = (id) => ({
  client_id: id,
  client_secret: `${id}-secret-0123456789abcdef`,
  redirect_uris: [redirect],
  grant_types: ['authorization_code'],
  response_types: ['code'],
});
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [client('router'), client('other')],
  claims: { openid: ['sub'], email: ['email'], groups: ['groups'] },
  scopes: ['openid', 'email', 'groups'],
  pkce: { required: () => true },
  conformIdTokenClaims: false, // the scopes' claims (groups) in the ID token itself
  features: { devInteractions: { enabled: true } },
  findAccount: async (ctx, id) => ({
    accountId: id,
    claims: async () => ({ sub: id, email: id, groups: ACCOUNTS[id] ?? ['staff'] }),
  }),
  loadExistingGrant: async (ctx) => {
    // Consent is implied: the test's users grant every scope the console asks for.
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email groups');
    grant.addOIDCClaims(['email', 'groups']);
    await grant.save();
    return grant;
  },
});
provider.listen(Number(port), '127.0.0.1', () => console.log(`listening ${port}`));
