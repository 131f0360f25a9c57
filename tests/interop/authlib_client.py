#!/usr/bin/python3
"""An OAuth 2.0 / OpenID Connect relying party written with Authlib, run against infobank.

A third client library, from another ecosystem than the two npm ones of tests/e2e: Python's
Authlib as Debian 12 packages it (python3-authlib 1.2.0, python3-requests). Authlib does the
OAuth work (authorization URL with PKCE S256, token requests with each client authentication
method, refresh, revocation, introspection, ID token and access token validation, the
private_key_jwt assertion); this program only plays the resident's browser (sign-in and
consent by posting the server's own forms) and reports what Authlib got, as one JSON object
on stdout, for tests/integration/authlib_interop.test.mjs to assert on.

Usage: authlib_client.py CONFIG.json   (written by the test: issuer, resident, clients)

Every part runs even when another failed; a part that raised unexpectedly is reported as
{"exception": "..."} and makes the program exit 1. Where Authlib 1.2 is lax or falls short of
the specifications, the program does the missing check itself and says so in its report
(see "authlib_gaps").
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
import traceback
from html.parser import HTMLParser
from urllib.parse import parse_qs, quote_plus, urljoin, urlsplit

import authlib
import requests
from requests.auth import HTTPBasicAuth
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.jose import JsonWebKey, JsonWebToken
from authlib.jose.errors import JoseError
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oidc.core import CodeIDToken
from authlib.oidc.discovery import OpenIDProviderMetadata

TIMEOUT = 30  # seconds per HTTP request: a hung server fails the run instead of stalling it


# --- the resident's browser: plain requests posting the server's forms -----------------------

class FormParser(HTMLParser):
    """Collects each <form>: its action, its named inputs with their values, its buttons."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self._form = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v or '') for k, v in attrs}
        if tag == 'form':
            self._form = {'action': a.get('action', ''), 'method': a.get('method', 'get').lower(),
                          'fields': {}, 'types': {}, 'buttons': []}
            self.forms.append(self._form)
        elif self._form is not None and tag in ('input', 'button'):
            kind = a.get('type', 'text' if tag == 'input' else 'submit').lower()
            name = a.get('name')
            if not name:
                return
            if kind == 'submit':
                self._form['buttons'].append((name, a.get('value', '')))
            else:
                self._form['fields'][name] = a.get('value', '')
                self._form['types'][name] = kind

    def handle_endtag(self, tag):
        if tag == 'form':
            self._form = None


def forms_of(html):
    p = FormParser()
    p.feed(html)
    return p.forms


def follow_same_origin(browser, r, origin):
    """Follows the server's own redirects (GET); stops at a page or at one to the client."""
    for _ in range(10):
        if not r.is_redirect:
            return r
        target = urljoin(r.url, r.headers['location'])
        if '{0.scheme}://{0.netloc}'.format(urlsplit(target)) != origin:
            return r
        r = browser.get(target, allow_redirects=False, timeout=TIMEOUT)
    return r


def resident_approves(browser, authorization_url, resident, origin, decision='approve'):
    """Signs in (when asked) and answers the consent page; returns (redirect URL, steps).

    Each form is posted with every field it holds (its CSRF token among them) plus the
    resident's input, as a browser would; the 303 to the client's redirect URI is not followed
    (nothing listens there): its Location is the authorization response.
    """
    r = follow_same_origin(
        browser, browser.get(authorization_url, allow_redirects=False, timeout=TIMEOUT), origin)
    steps = []
    for _ in range(6):
        if r.status_code != 200:
            break
        forms = forms_of(r.text)
        login = next((f for f in forms if 'password' in f['types'].values()), None)
        consent = next((f for f in forms if any(b[0] == 'decision' for b in f['buttons'])), None)
        if login:
            form, fields = login, dict(login['fields'])
            fields.update(username=resident['username'], password=resident['password'])
            step = 'login'
        elif consent:
            form, fields = consent, dict(consent['fields'])
            fields['decision'] = decision
            step = 'consent'
        else:
            break
        steps.append({'step': step,
                      'csrf_fields': sorted(k for k in form['fields'] if 'csrf' in k.lower())})
        action = urljoin(r.url, form['action'] or r.url)
        r = follow_same_origin(
            browser, browser.post(action, data=fields, allow_redirects=False, timeout=TIMEOUT),
            origin)
    if not r.is_redirect:
        raise RuntimeError('no redirect to the client after %s: HTTP %d %s' % (
            [s['step'] for s in steps], r.status_code, r.text[:300]))
    return urljoin(r.url, r.headers['location']), steps


# --- helpers ---------------------------------------------------------------------------------

def oauth_error(fn):
    """Runs fn, which must fail: {'error', 'description', 'raised'} of the error Authlib raised."""
    try:
        fn()
    except (OAuthError, OAuth2Error) as e:
        return {'error': e.error, 'description': e.description, 'raised': type(e).__name__}
    except JoseError as e:
        return {'error': e.error, 'description': e.description, 'raised': type(e).__name__}
    return {'error': None, 'raised': None}


def response_error(resp):
    """An error answer that Authlib hands back as a response (revocation, introspection)."""
    try:
        body = resp.json()
    except ValueError:
        body = {}
    return {'status': resp.status_code, 'error': body.get('error'),
            'www_authenticate': resp.headers.get('www-authenticate')}


def half_hash(value, alg):
    """OIDC Core §3.3.2.11 at_hash: the left half of the hash the ID token's alg uses; SHA-512
    for EdDSA over Ed25519 (OpenID Connect Core 1.0 errata set 2, §3.1.3.6)."""
    digest = hashlib.sha512 if alg == 'EdDSA' else getattr(hashlib, 'sha' + alg[2:])
    d = digest(value.encode('ascii')).digest()
    return base64.urlsafe_b64encode(d[:len(d) // 2]).rstrip(b'=').decode('ascii')


class Relying:
    """What every part shares: the discovered metadata, the key set, the resident's browser."""

    def __init__(self, config):
        self.config = config
        self.resident = config['resident']
        self.metadata = None
        self.jwks = None
        self.browser = requests.Session()
        self.gaps = []

    @property
    def origin(self):
        return '{0.scheme}://{0.netloc}'.format(urlsplit(self.metadata['issuer']))

    def endpoint(self, name):
        return self.metadata[name]

    def session(self, client, method, **kwargs):
        # Introspection and revocation both use revocation_endpoint_auth_method in Authlib 1.2.
        return OAuth2Session(
            client['client_id'], client.get('client_secret'),
            token_endpoint_auth_method=method, revocation_endpoint_auth_method=method,
            scope=self.config['scope'], redirect_uri=self.config['redirect_uri'],
            code_challenge_method='S256', default_timeout=TIMEOUT, **kwargs)

    def authorize(self, session, decision='approve'):
        """create_authorization_url with PKCE S256 and a nonce, then the resident's pages."""
        verifier = generate_token(64)  # RFC 7636 §4.1: 43 to 128 characters
        nonce = generate_token(24)
        url, state = session.create_authorization_url(
            self.endpoint('authorization_endpoint'), code_verifier=verifier, nonce=nonce)
        query = parse_qs(urlsplit(url).query)
        redirect, steps = resident_approves(self.browser, url, self.resident, self.origin,
                                            decision)
        answer = parse_qs(urlsplit(redirect).query)
        # RFC 9207 §2.4: Authlib 1.2 does not look at iss; the client must, against mix-up.
        self.gaps.append('RFC 9207 iss in the authorization response: not checked by Authlib '
                         '1.2; checked by this program')
        iss = answer.get('iss', [None])[0]
        if iss != self.metadata['issuer']:
            raise RuntimeError('authorization response iss %r is not the issuer' % iss)
        return {'redirect': redirect, 'state': state, 'verifier': verifier, 'nonce': nonce,
                'steps': steps, 'iss': iss,
                'code_challenge_method': query.get('code_challenge_method', [None])[0],
                'code_challenge_sent': 'code_challenge' in query}

    def redeem(self, session, flow, **kwargs):
        """The token request for the code in `flow`'s redirect (what authorize() returned),
        with its state and verifier; kwargs go to fetch_token (auth=, say)."""
        return session.fetch_token(self.endpoint('token_endpoint'),
                                   authorization_response=flow['redirect'], state=flow['state'],
                                   code_verifier=flow['verifier'], **kwargs)

    def key_set(self):
        return JsonWebKey.import_key_set(self.jwks)

    def verify_id_token(self, id_token, client, nonce, access_token, alg):
        """ID token checks of OIDC Core §3.1.3.7 with authlib.jose and CodeIDToken: the
        signature by the key set's key of that kid, the alg pinned to the client's registered
        one (item 7), iss, aud, azp, exp, iat, nonce, and at_hash (§3.1.3.8)."""
        options = {
            'iss': {'essential': True, 'value': self.metadata['issuer']},
            'aud': {'essential': True, 'value': client['client_id']},
            'nonce': {'essential': True, 'value': nonce},
        }
        params = {'nonce': nonce, 'client_id': client['client_id'],
                  'access_token': access_token}
        jwt = JsonWebToken([alg])
        report = {'alg': None, 'verified': False}
        try:
            claims = jwt.decode(id_token, self.key_set(), claims_cls=CodeIDToken,
                                claims_options=options, claims_params=params)
            report['alg'] = claims.header['alg']
            claims.validate(leeway=5)
            report['at_hash_checked_by'] = 'authlib'
        except JoseError as e:
            if e.error != 'invalid_claim' or 'at_hash' not in (e.description or ''):
                raise
            # Authlib 1.2's create_half_hash knows only algs named xxNNN: for EdDSA it finds
            # no hash and refuses every at_hash. Checked here as OIDC Core errata set 2 says.
            params.pop('access_token')
            claims = jwt.decode(id_token, self.key_set(), claims_cls=CodeIDToken,
                                claims_options=options, claims_params=params)
            claims.validate(leeway=5)
            expected = half_hash(access_token, claims.header['alg'])
            if not hmac.compare_digest(expected, claims['at_hash']):
                raise RuntimeError('at_hash does not match')
            report['at_hash_checked_by'] = 'this program (Authlib 1.2: %s)' % e.description
            self.gaps.append('at_hash with %s: Authlib 1.2 refuses it (%s); checked by hand '
                             'with %s' % (alg, e.description, 'SHA-512' if alg == 'EdDSA'
                                          else 'the alg hash'))
        report.update(verified=True, alg=claims.header['alg'], kid=claims.header.get('kid'),
                      typ=claims.header.get('typ'),
                      claims={k: claims.get(k) for k in ('iss', 'sub', 'aud', 'azp', 'nonce',
                                                         'auth_time', 'amr', 'sid')})
        return report


# --- the parts -------------------------------------------------------------------------------

def metadata_problems(metadata_cls, document):
    """Every rule of Authlib's metadata class that the document breaks (its validate() stops at
    the first), as {member: message}."""
    md = metadata_cls(document)
    problems = {}
    for name in sorted(dir(md)):
        if name.startswith('validate_'):
            try:
                getattr(md, name)()
            except ValueError as e:
                problems[name[len('validate_'):]] = str(e)
    return problems


def part_discovery(rp):
    """OIDC Discovery §4 and RFC 8414 §3: the configuration from the issuer's well-known URLs,
    checked by Authlib's OpenIDProviderMetadata and AuthorizationServerMetadata."""
    issuer = rp.config['issuer']
    r = requests.get(issuer + '/.well-known/openid-configuration', timeout=TIMEOUT)
    r.raise_for_status()
    rp.metadata = r.json()
    oauth = requests.get(issuer + '/.well-known/oauth-authorization-server', timeout=TIMEOUT)
    oauth.raise_for_status()
    # Authlib requires https in every URL; the test server is plain http on loopback. The
    # variable is Authlib's own switch for that, set only while the rules run.
    os.environ['AUTHLIB_INSECURE_TRANSPORT'] = '1'
    try:
        problems = {'openid-configuration': metadata_problems(OpenIDProviderMetadata, rp.metadata),
                    'oauth-authorization-server': metadata_problems(AuthorizationServerMetadata,
                                                                    oauth.json())}
    finally:
        del os.environ['AUTHLIB_INSECURE_TRANSPORT']
    if problems['openid-configuration'].get('request_object_signing_alg_values_supported'):
        # Discovery §3: "Servers SHOULD support none and RS256"; Authlib 1.2 makes it a MUST.
        rp.gaps.append('OpenIDProviderMetadata.validate() refuses request_object_signing_alg_'
                       'values_supported without "none", a SHOULD of Discovery §3')
    jwks = requests.get(rp.metadata['jwks_uri'], timeout=TIMEOUT)
    jwks.raise_for_status()
    rp.jwks = jwks.json()
    keys = rp.key_set().keys  # Authlib imports every key of the set (EC, RSA, OKP)
    return {
        'content_type': r.headers.get('content-type'),
        'issuer': rp.metadata['issuer'],
        'issuer_matches': rp.metadata['issuer'] == issuer,  # Discovery §4.3, RFC 8414 §3.3
        'oauth_issuer_matches': oauth.json().get('issuer') == issuer,
        'problems': problems,
        'endpoints': {k: rp.metadata.get(k) for k in (
            'authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri',
            'revocation_endpoint', 'introspection_endpoint')},
        'code_challenge_methods_supported': rp.metadata.get('code_challenge_methods_supported'),
        'id_token_signing_alg_values_supported':
            rp.metadata.get('id_token_signing_alg_values_supported'),
        'jwks_imported': sorted([k.kty, k.kid] for k in keys),
    }


def code_flow(rp, client, method):
    """Authorization code + PKCE S256 and the token request with `method`; the ID token
    verified; the session holds the tokens."""
    session = rp.session(client, method)
    auth = rp.authorize(session)
    token = rp.redeem(session, auth)
    id_token = rp.verify_id_token(token['id_token'], client, auth['nonce'],
                                  token['access_token'], client['id_token_alg'])
    return session, auth, token, id_token


def token_summary(token):
    return {'token_type': token.get('token_type'), 'scope': token.get('scope'),
            'expires_in': token.get('expires_in'), 'expires_at': token.get('expires_at'),
            'has_refresh_token': 'refresh_token' in token, 'has_id_token': 'id_token' in token}


def part_client_secret_basic(rp):
    """Code flow with client_secret_basic; userinfo; refresh rotation; the replays refused."""
    client = rp.config['clients']['basic']
    session, auth, token, id_token = code_flow(rp, client, 'client_secret_basic')
    out = {'steps': auth['steps'], 'code_challenge_method': auth['code_challenge_method'],
           'iss': auth['iss'], 'token': token_summary(token), 'id_token': id_token}

    userinfo = session.get(rp.endpoint('userinfo_endpoint'))
    out['userinfo'] = {'status': userinfo.status_code, 'body': userinfo.json()}

    first = dict(token)
    rotated = session.refresh_token(rp.endpoint('token_endpoint'),
                                    refresh_token=first['refresh_token'])
    out['refresh'] = {
        'token': token_summary(rotated),
        'rotated': rotated['refresh_token'] != first['refresh_token'],
        'new_access_token': rotated['access_token'] != first['access_token'],
    }
    # The new access token works at userinfo through the same session.
    out['refresh']['userinfo_status'] = session.get(rp.endpoint('userinfo_endpoint')).status_code
    # RFC 9700 §4.14.2: the old refresh token, once rotated, is refused...
    out['refresh']['old_refresh_token'] = oauth_error(lambda: session.refresh_token(
        rp.endpoint('token_endpoint'), refresh_token=first['refresh_token']))
    # ...and its reuse revoked the family: the one it was rotated into is refused as well.
    out['refresh']['rotated_after_reuse'] = oauth_error(lambda: session.refresh_token(
        rp.endpoint('token_endpoint'), refresh_token=rotated['refresh_token']))

    # RFC 6749 §4.1.2: a code is used once.
    out['replayed_code'] = oauth_error(
        lambda: rp.redeem(rp.session(client, 'client_secret_basic'), auth))

    # A wrong secret: invalid_client (RFC 6749 §5.2), and the code is not spent by it.
    wrong = dict(client, client_secret=client['client_secret'][:-2] + 'xx')
    a2 = rp.authorize(rp.session(client, 'client_secret_basic'))
    fetch = lambda c, v: rp.session(c, 'client_secret_basic').fetch_token(  # noqa: E731
        rp.endpoint('token_endpoint'), authorization_response=a2['redirect'],
        state=a2['state'], code_verifier=v)
    out['wrong_secret'] = oauth_error(lambda: fetch(wrong, a2['verifier']))
    # RFC 7636 §4.6: another verifier than the one the challenge was made from.
    out['wrong_verifier'] = oauth_error(lambda: fetch(client, generate_token(64)))
    # The state check is Authlib's own (RFC 6749 §10.12).
    out['wrong_state'] = oauth_error(lambda: rp.session(client, 'client_secret_basic')
                                     .fetch_token(rp.endpoint('token_endpoint'),
                                                  authorization_response=a2['redirect'],
                                                  state='not-the-state',
                                                  code_verifier=a2['verifier']))
    return out


def part_client_secret_post(rp):
    """Code flow with client_secret_post; introspection and revocation through Authlib."""
    client = rp.config['clients']['post']
    session, auth, token, id_token = code_flow(rp, client, 'client_secret_post')
    out = {'steps': auth['steps'], 'token': token_summary(token), 'id_token': id_token}
    intro = rp.endpoint('introspection_endpoint')
    revoke = rp.endpoint('revocation_endpoint')

    def introspect(value, hint):
        r = session.introspect_token(intro, token=value, token_type_hint=hint)
        return {'status': r.status_code, 'cache_control': r.headers.get('cache-control'),
                'body': r.json()}

    out['introspect_access'] = introspect(token['access_token'], 'access_token')
    out['introspect_refresh'] = introspect(token['refresh_token'], 'refresh_token')
    # Introspection by a caller with a wrong secret (RFC 7662 §2.3: 401).
    bad = rp.session(dict(client, client_secret='wrong-' + client['client_secret']),
                     'client_secret_post')
    out['introspect_wrong_secret'] = response_error(
        bad.introspect_token(intro, token=token['access_token'], token_type_hint='access_token'))
    out['revoke_wrong_secret'] = response_error(
        bad.revoke_token(revoke, token=token['access_token'], token_type_hint='access_token'))

    r = session.revoke_token(revoke, token=token['access_token'], token_type_hint='access_token')
    out['revoke_access'] = {'status': r.status_code, 'body': r.text}
    out['introspect_after_revoke'] = introspect(token['access_token'], 'access_token')
    # RFC 6750 §3.1: the revoked token at userinfo is invalid_token.
    out['userinfo_after_revoke'] = response_error(session.get(rp.endpoint('userinfo_endpoint')))

    r = session.revoke_token(revoke, token=token['refresh_token'], token_type_hint='refresh_token')
    out['revoke_refresh'] = {'status': r.status_code}
    out['refresh_after_revoke'] = oauth_error(lambda: session.refresh_token(
        rp.endpoint('token_endpoint'), refresh_token=token['refresh_token']))
    # RFC 7009 §2.2: an unknown or already revoked token is answered 200 all the same.
    again = session.revoke_token(revoke, token=token['refresh_token'])
    out['revoke_again'] = {'status': again.status_code}
    return out


def part_id_token_algs(rp):
    """The ID token of a client registered for each algorithm, verified by authlib.jose."""
    out = {}
    for name, client in rp.config['clients'].items():
        if not name.startswith('alg_'):
            continue
        try:
            _, _, token, id_token = code_flow(rp, client, 'client_secret_basic')
            report = {'registered': client['id_token_alg'], **id_token}
            # An ID token of this alg is refused by a verifier pinned to another (OIDC Core
            # §3.1.3.7 item 7; RFC 8725 §3.1): no alg confusion in Authlib's decode.
            other = 'ES256' if client['id_token_alg'] != 'ES256' else 'RS256'
            report['other_alg_refused'] = oauth_error(
                lambda: JsonWebToken([other]).decode(token['id_token'], rp.key_set()))
        except Exception as e:  # one algorithm Authlib cannot verify is reported, not fatal
            report = {'registered': client['id_token_alg'], 'verified': False,
                      'exception': '%s: %s' % (type(e).__name__, e)}
        out[name[4:]] = report
    # Negatives on one token: a wrong nonce and a tampered signature.
    client = rp.config['clients']['alg_ES256']
    session = rp.session(client, 'client_secret_basic')
    auth = rp.authorize(session)
    token = rp.redeem(session, auth)
    out['wrong_nonce'] = oauth_error(lambda: rp.verify_id_token(
        token['id_token'], client, 'another-nonce', token['access_token'], 'ES256'))
    head, payload, sig = token['id_token'].split('.')
    flipped = ('A' if sig[0] != 'A' else 'B') + sig[1:]
    out['tampered_signature'] = oauth_error(lambda: rp.verify_id_token(
        '.'.join((head, payload, flipped)), client, auth['nonce'], token['access_token'],
        'ES256'))
    return out


def part_authorization_errors(rp):
    """Errors in the authorization response (RFC 6749 §4.1.2.1). Authlib 1.2's fetch_token does
    not read them: it raises missing_code, so the client reads error itself."""
    client = rp.config['clients']['deny']  # never consented: the consent page is shown
    out = {}
    session = rp.session(client, 'client_secret_basic')
    auth = rp.authorize(session, decision='deny')
    answer = parse_qs(urlsplit(auth['redirect']).query)
    if 'code=' not in auth['redirect']:
        # fetch_token guesses the grant from its arguments when the response has no code=.
        rp.gaps.append('an error authorization response (RFC 6749 §4.1.2.1) is not raised by '
                       'Authlib 1.2 fetch_token: with no code it sends a client_credentials '
                       'token request instead; the client must read error itself')
    out['denied'] = {
        'steps': [s['step'] for s in auth['steps']],
        'error_in_redirect': answer.get('error', [None])[0],
        'state_in_redirect': answer.get('state', [None])[0] == auth['state'],
        'authlib': oauth_error(lambda: rp.redeem(session, auth)),
    }
    # A session without code_challenge_method sends no challenge: PKCE is required (RFC 9700
    # §2.1.1), the request is refused before any page.
    plain = OAuth2Session(client['client_id'], client['client_secret'],
                          scope=rp.config['scope'], redirect_uri=rp.config['redirect_uri'])
    url, state = plain.create_authorization_url(rp.endpoint('authorization_endpoint'),
                                                code_verifier=generate_token(64),
                                                nonce=generate_token(24))
    r = rp.browser.get(url, allow_redirects=False, timeout=TIMEOUT)
    location = urljoin(url, r.headers.get('location', ''))
    answer = parse_qs(urlsplit(location).query)
    out['no_pkce'] = {
        'challenge_sent': 'code_challenge' in parse_qs(urlsplit(url).query),
        'status': r.status_code,
        'error_in_redirect': answer.get('error', [None])[0],
        'authlib': oauth_error(lambda: plain.fetch_token(
            rp.endpoint('token_endpoint'), authorization_response=location, state=state)),
    }
    return out


def part_basic_encoding(rp):
    """RFC 6749 §2.3.1: client_secret_basic form-urlencodes the id and the secret before
    base64. Authlib 1.2 does not, so an id with a ':' (allowed: Appendix A.1, VSCHAR) or a
    space reaches the server as another id. The same session with the Authorization header
    made as the RFC says is accepted."""
    client = rp.config['clients']['odd_id']
    session = rp.session(client, 'client_secret_basic')
    auth = rp.authorize(session)
    fetch = lambda **kw: rp.redeem(  # noqa: E731
        rp.session(client, 'client_secret_basic'), auth, **kw)
    out = {'client_id': client['client_id'], 'authlib_basic': oauth_error(fetch)}
    encoded = HTTPBasicAuth(quote_plus(client['client_id']),
                                          quote_plus(client['client_secret']))
    token = fetch(auth=encoded)
    out['rfc_basic'] = token_summary(token)
    if out['authlib_basic']['error'] == 'invalid_client':
        rp.gaps.append('client_secret_basic: Authlib 1.2 does not form-urlencode the client id '
                       'and secret (RFC 6749 §2.3.1); an id with ":" or " " is refused')
    return out


def part_bearer_placement(rp):
    """RFC 6750 through Authlib's token_placement: header and form body are accepted; the URI
    query is refused (RFC 9700 §4.3.2, and no access token ever in a URL here)."""
    client = rp.config['clients']['post']
    session = rp.session(client, 'client_secret_post')
    auth = rp.authorize(session)
    token = rp.redeem(session, auth)
    userinfo = rp.endpoint('userinfo_endpoint')
    out = {}
    for placement in ('header', 'body', 'uri'):
        s = OAuth2Session(client['client_id'], token=token, token_placement=placement,
                          default_timeout=TIMEOUT)
        form = {'Content-Type': 'application/x-www-form-urlencoded'}
        r = s.post(userinfo, headers=form) if placement == 'body' else s.get(userinfo)
        out[placement] = {'status': r.status_code,
                          'sub': r.json().get('sub') if r.status_code == 200 else None,
                          'www_authenticate': r.headers.get('www-authenticate')}
    return out


def part_private_key_jwt(rp):
    """client_credentials with private_key_jwt (RFC 7523 §2.2) signed by Authlib's PrivateKeyJWT
    with the client's EC key; the access token checked as RFC 9068 says."""
    client = rp.config['clients']['pkjwt']
    token_endpoint = rp.endpoint('token_endpoint')

    def session(key, audience=token_endpoint, scope='data.read', claims=None):
        s = OAuth2Session(client['client_id'], key, token_endpoint_auth_method='private_key_jwt',
                          scope=scope, default_timeout=TIMEOUT)
        s.register_client_auth_method(PrivateKeyJWT(audience, claims=claims, alg='ES256'))
        return s

    token = session(client['private_jwk']).fetch_token(token_endpoint,
                                                       grant_type='client_credentials')
    claims = JsonWebToken(['ES256']).decode(token['access_token'], rp.key_set(), claims_options={
        'iss': {'essential': True, 'value': rp.metadata['issuer']},
        'sub': {'essential': True, 'value': client['client_id']},
        'client_id': {'essential': True, 'value': client['client_id']},
        'exp': {'essential': True}, 'iat': {'essential': True}, 'jti': {'essential': True},
    })
    claims.validate(leeway=5)
    out = {'token': token_summary(token),
           'access_token': {'typ': claims.header.get('typ'), 'alg': claims.header['alg'],
                            'scope': claims.get('scope'), 'aud': claims.get('aud')}}
    # Twice: each assertion has a fresh jti (RFC 7523 §3 item 7).
    out['second_token'] = 'access_token' in session(client['private_jwk']).fetch_token(
        token_endpoint, grant_type='client_credentials')
    # RFC 7523 §3 item 3: an assertion for another audience; a key the client never registered.
    out['wrong_audience'] = oauth_error(lambda: session(
        client['private_jwk'], audience='https://elsewhere.example.test/token').fetch_token(
            token_endpoint, grant_type='client_credentials'))
    stranger = JsonWebKey.generate_key('EC', 'P-256', is_private=True).as_dict(is_private=True)
    out['unregistered_key'] = oauth_error(lambda: session(stranger).fetch_token(
        token_endpoint, grant_type='client_credentials'))
    # Authlib's assertions live exactly an hour (exp = iat + 3600), infobank's longest, and are
    # taken from a client whose clock runs 2 s ahead (within the 60 s tolerated for iat).
    ahead = int(time.time()) + 2
    try:
        session(client['private_jwk'], claims={'iat': ahead, 'exp': ahead + 3600}).fetch_token(
            token_endpoint, grant_type='client_credentials')
        out['clock_ahead_2s'] = {'status': 'token'}
    except OAuthError as e:
        out['clock_ahead_2s'] = {'status': 'refused', 'error': e.error,
                                 'description': e.description}
    out['scope_not_allowed'] = oauth_error(lambda: session(
        client['private_jwk'], scope='data.admin').fetch_token(
            token_endpoint, grant_type='client_credentials'))
    return out


PARTS = [
    ('discovery', part_discovery),
    ('client_secret_basic', part_client_secret_basic),
    ('client_secret_post', part_client_secret_post),
    ('id_token_algs', part_id_token_algs),
    ('authorization_errors', part_authorization_errors),
    ('basic_encoding', part_basic_encoding),
    ('bearer_placement', part_bearer_placement),
    ('private_key_jwt', part_private_key_jwt),
]


def main(argv):
    if len(argv) != 2:
        print('usage: authlib_client.py CONFIG.json', file=sys.stderr)
        return 2
    with open(argv[1], encoding='utf-8') as f:
        config = json.load(f)
    rp = Relying(config)
    report = {'authlib_version': authlib.__version__, 'requests_version': requests.__version__}
    failed = []
    for name, part in PARTS:
        if rp.metadata is None and name != 'discovery':
            report[name] = {'exception': 'skipped: discovery failed'}
            failed.append(name)
            continue
        try:
            report[name] = part(rp)
        except Exception as e:
            traceback.print_exc()
            report[name] = {'exception': '%s: %s' % (type(e).__name__, e)}
            failed.append(name)
    report['authlib_gaps'] = sorted(set(rp.gaps))
    report['failed_parts'] = failed
    json.dump(report, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write('\n')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
