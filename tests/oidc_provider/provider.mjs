// panva's oidc-provider (https://github.com/panva/node-oidc-provider, OpenID Certified) as an
// upstream identity provider for authd's federation tests. Listens on a free loopback port,
// prints `listening <issuer>` once it serves, and knows one client, from the environment:
// CLIENT_ID, CLIENT_SECRET, REDIRECT_URI. Its development login form takes any username (the
// account id) and any password; every account's address is `<id>@provider.example`, verified.
import http from 'node:http';

import Provider from 'oidc-provider';

const { CLIENT_ID, CLIENT_SECRET, REDIRECT_URI } = process.env;
if (!CLIENT_ID || !CLIENT_SECRET || !REDIRECT_URI) {
  console.error('provider.mjs needs CLIENT_ID, CLIENT_SECRET and REDIRECT_URI');
  process.exit(2);
}

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uris: [REDIRECT_URI],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['preferred_username', 'name'],
    },
    async findAccount(ctx, id) {
      return {
        accountId: id,
        async claims() {
          return {
            sub: id,
            email: `${id}@provider.example`,
            email_verified: true,
            preferred_username: id,
            name: id,
          };
        },
      };
    },
    cookies: { keys: ['authd federation tests'] },
    features: { devInteractions: { enabled: true } },
  });
  server.on('request', provider.callback());
  console.log(`listening ${issuer}`);
});
