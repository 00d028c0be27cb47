"""The auth service: `uvicorn auth.app:create_app --factory --port 8101`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from shared.db import transaction
from shared.jwt import TokenIssuer, generate_keypair
from shared.logging import get_logger
from shared.outbox import purge_published
from shared.runtime import Runtime
from shared.web import create_service_app
from sqlalchemy.exc import DBAPIError

from auth import api, models, repository, service
from auth.password_policy import password_problem
from auth.passwords import Passwords
from auth.schemas import normalise_email
from auth.settings import AuthSettings, normalised_public_pem, public_pem_for

log = get_logger("auth")
HOUSEKEEPING_INTERVAL_S = 300.0
BOOTSTRAP_ATTEMPTS = 15


def signing_keys(settings: AuthSettings) -> tuple[AuthSettings, str]:
    """The settings with the public key that matches the signing key, and the signing key.

    Without JWT_PRIVATE_KEY outside production, an ephemeral pair is made (tokens then die with
    the process, and other services cannot verify them): `make up` writes real keys to .env.
    """
    private_pem = settings.private_key_pem
    if private_pem:
        public_pem = public_pem_for(private_pem)
    else:
        # production never gets here: its settings refuse to load without a key
        private_pem, public_pem = generate_keypair()
        log.warning("jwt_ephemeral_key", reason="JWT_PRIVATE_KEY is not set; tokens die with this process")
    if settings.jwt_public_key and normalised_public_pem(settings.jwt_public_key) != public_pem:
        log.warning("jwt_public_key_mismatch", reason="JWT_PUBLIC_KEY does not match the signing key")
    return settings.model_copy(update={"jwt_public_key": public_pem}), private_pem


async def bootstrap_first_admin(*, settings: AuthSettings, runtime: Runtime, passwords: Passwords) -> None:
    """Create the BOOTSTRAP_ADMIN_EMAIL admin when no admin exists (once, whatever the process count)."""
    if not settings.bootstrap_admin_email or not settings.bootstrap_admin_password:
        return
    email = normalise_email(settings.bootstrap_admin_email)
    password = settings.bootstrap_admin_password.get_secret_value()
    problem = password_problem(password, email=email)
    if problem is not None:
        raise ValueError(f"BOOTSTRAP_ADMIN_PASSWORD is refused: {problem}")
    for attempt in range(1, BOOTSTRAP_ATTEMPTS + 1):
        try:
            async with transaction(runtime.sessions) as session:
                if await service.any_active_admin(session=session):
                    return
            password_hash = await passwords.hash(password)
            async with transaction(runtime.sessions) as session:
                user = await service.bootstrap_admin(session=session, email=email, password_hash=password_hash)
            if user is not None:
                runtime.wake_relay()
                log.info("bootstrap_admin_created", email=email)
            return
        except (DBAPIError, OSError) as exc:
            if attempt == BOOTSTRAP_ATTEMPTS:
                raise
            log.warning("bootstrap_admin_retry", attempt=attempt, error=str(exc)[:200])
            await asyncio.sleep(min(5.0, 0.5 * attempt))


async def housekeeping(*, settings: AuthSettings, runtime: Runtime) -> None:
    """Forget ended throttling windows and old published outbox rows, now and then."""
    while True:
        await asyncio.sleep(HOUSEKEEPING_INTERVAL_S)
        try:
            async with transaction(runtime.sessions) as session:
                await repository.purge_login_attempts(session, window=timedelta(seconds=settings.login_window_s))
            await purge_published(runtime.sessions, models.outbox, older_than=timedelta(days=7))
        except Exception as exc:  # noqa: BLE001 - housekeeping retries at its next round
            log.warning("housekeeping_failed", error=str(exc)[:200])


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    """The auth app: routes, outbox relay and the first admin, in one process."""
    settings, private_pem = signing_keys(settings or AuthSettings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        passwords = Passwords(workers=settings.hash_workers)
        runtime = Runtime(settings=settings, database_url=settings.database_url, outbox=models.outbox)
        app.state.passwords = passwords
        app.state.token_issuer = TokenIssuer(
            private_key_pem=private_pem,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl=timedelta(seconds=settings.access_token_ttl_s),
        )
        try:
            await passwords.warm_up()
            await runtime.start()
            await bootstrap_first_admin(settings=settings, runtime=runtime, passwords=passwords)
        except BaseException:
            with contextlib.suppress(Exception):
                await runtime.stop()
            passwords.close()
            raise
        runtime.run_in_background("auth-housekeeping", lambda: housekeeping(settings=settings, runtime=runtime))
        app.state.runtime = runtime
        try:
            yield
        finally:
            await runtime.stop()
            passwords.close()

    app = create_service_app(title="auth", settings=settings, lifespan=lifespan)
    app.include_router(api.router)
    app.include_router(api.internal_router)
    return app
