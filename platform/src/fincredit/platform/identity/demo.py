"""Demo steps of identity: institutions with real-name accounts and keys, tokens, key rotation."""

from __future__ import annotations

from fincredit.platform.demo.context import Actor, DemoContext
from fincredit.platform.identity.accounts import (
    create_institution_account,
    create_organisation,
    generate_key_pair,
    register_key,
)


def step_institutions(ctx: DemoContext) -> str:
    """The operator registers the institutions and their real-name accounts, each with a key."""
    orgs = [
        ("operator", "nb-platform", "platform_operator", "宁波市融资信用服务平台运营中心", "王运维"),
        ("authority", "nb-credit-office", "credit_authority", "宁波市信用办", "李主任"),
        ("bank", "nb-bank", "bank", "宁波示范银行", "陈风控"),
        ("tax", "nb-tax", "data_provider", "国家税务总局宁波市税务局", "周数据"),
        ("regulator", "nb-regulator", "regulator", "宁波金融监管局", "赵监管"),
    ]
    with ctx.services.tx() as session:
        for name, org_id, kind, title, person in orgs:
            create_organisation(session, org_id=org_id, kind=kind, name=title)
            account = create_institution_account(
                session,
                ctx.services.authz,
                org_id=org_id,
                username=f"{name}-api",
                real_name=person,
                stated_use=f"{title} API access",
            )
            private_pem, public_pem = generate_key_pair()
            key = register_key(session, account.id, public_pem)
            ctx.actors[name] = Actor(org_id, account.id, key.kid, private_pem)
    return f"{len(orgs)} organisations, each with a real-name account and an Ed25519 key"


def step_tokens(ctx: DemoContext) -> str:
    """Each institution signs a client assertion (private_key_jwt) and receives a short-lived token."""
    for name in ctx.actors:
        ctx.token_for(name)
    me = ctx.http.get("/api/v1/me", headers=ctx.as_("bank")).json()
    return f"tokens issued; the bank's account has roles {me['roles']} in domain {me['domain']}"


def step_key_revocation(ctx: DemoContext) -> str:
    """The bank rotates its key: the new key works, tokens from the revoked one are refused at once."""
    bank = ctx.actors["bank"]
    old_token = bank.token
    private_pem, public_pem = generate_key_pair()
    new_key = ctx.http.post(
        "/api/v1/me/keys", headers=ctx.as_("bank"), json={"public_key_pem": public_pem}
    ).json()
    ctx.http.post(
        f"/api/v1/me/keys/{bank.kid}/revoke", headers=ctx.as_("bank"), json={"reason": "rotation"}
    ).raise_for_status()
    refused = ctx.http.get("/api/v1/me", headers={"Authorization": f"Bearer {old_token}"})
    bank.kid, bank.private_pem = new_key["kid"], private_pem
    ctx.token_for("bank")
    ok = ctx.http.get("/api/v1/me", headers=ctx.as_("bank"))
    return (
        f"old token → {refused.status_code} ({refused.json()['detail']}); new key's token → {ok.status_code}"
    )
