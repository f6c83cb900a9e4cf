"""Who may run syncs from this dashboard (issue #11, "Who may run").

With Streamlit's sign-in configured (an `[auth]` section in .streamlit/secrets.toml), a signed-in user may run
syncs if workspace.toml lists them as an operator (`[dashboard] operators`: emails, or domains as
'@example.com'); everybody else sees read-only pages. Without sign-in (local use), the dashboard is an operator
and records who asked as `dashboard`."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from sync_core import Workspace


@dataclass(frozen=True)
class Access:
    may_run: bool
    who: str | None  # recorded on the runs it asks for
    why_not: str | None = None  # shown instead of the buttons
    signed_out: bool = False  # show a sign-in button


def sign_in_configured() -> bool:
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, KeyError):  # no secrets file at all
        return False


def signed_in_email() -> str | None:
    """The signed-in user's email, if their identity provider verified it (an unverified one could claim any
    address, and with it an operator's domain)."""
    user = st.user
    if not user.get("is_logged_in") or user.get("email_verified") is False:
        return None
    return user.get("email")


def access(workspace: Workspace) -> Access:
    if not sign_in_configured():
        return Access(True, "dashboard")
    email = signed_in_email()
    if email is None:
        return Access(False, None, "Sign in to run syncs: signed-out viewers see read-only pages.", signed_out=True)
    if workspace.is_operator(email):
        return Access(True, email)
    listed = ", ".join(workspace.operators) or "nobody yet"
    return Access(False, email, f"Signed in as {email}, who is not an operator of this workspace: pages are "
                                f"read-only. Operators are listed in {workspace.file.name}, `[dashboard] operators` "
                                f"({listed}).")
