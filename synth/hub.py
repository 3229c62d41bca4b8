"""Publishing files to a Hub repository in one commit, with one-line errors and no token leaks.

Used for datasets (synth/publish.py) and trained models (rl/publish.py). The token is
huggingface_hub's own lookup (HF_TOKEN, then the token file that `hf auth login` writes); it is
never passed around, logged or written, and every error message is scrubbed of it. What can go
wrong on the way, a missing token, a 401, a namespace that is not the token's (403/404), a
revision that does not exist, the Hub refusing the card's metadata, no network, becomes a
`HubError` with one line that names the fix; the caller prints it and exits 2, and nothing on
the local disk is touched.

A push is one commit: the repo is created if needed (private only on creation), the branch
too when a revision is named, then every file is added and the files that `stale(path)` marks
(old data shards) are deleted in the same commit, so a reader never sees half a dataset.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


class HubError(Exception):
    """One line on why publishing failed and what to do; never holds the token."""


@dataclass(frozen=True)
class Pushed:
    url: str
    """The repository's page (the branch's for a revision)."""
    commit: str
    """The new commit's id."""


def check_repo_id(repo_id: str) -> None:
    """ORG/NAME, or one HubError line naming the form."""
    parts = (repo_id or "").split("/")
    if not REPO_ID.fullmatch(repo_id or "") or "--" in repo_id or ".." in repo_id:
        raise HubError(
            f"repository {repo_id!r} must be ORG/NAME (letters, digits, - _ ., no -- or ..)"
        )
    if any(len(part) > 96 for part in parts):
        raise HubError(f"repository {repo_id!r}: ORG and NAME may have 96 characters each")


def require_token() -> None:
    """Fail before any work when no token is found or the Hub is switched off."""
    from huggingface_hub import constants, get_token

    if constants.HF_HUB_OFFLINE:
        raise HubError("HF_HUB_OFFLINE is set: unset it to publish to the Hub")
    if not get_token():
        raise HubError(
            "no Hugging Face token: set HF_TOKEN to a token with write access, or run "
            "`hf auth login`"
        )


def _scrub(text: str) -> str:
    from huggingface_hub import get_token

    token = get_token() or os.environ.get("HF_TOKEN")
    first = (text.strip().splitlines() or [""])[0]
    return first.replace(token, "<token>") if token else first


@contextmanager
def hub_errors(repo_id: str, revision: str | None = None) -> Iterator[None]:
    """Turn what the Hub client raises into one HubError line (network, HTTP, metadata)."""
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        from httpx2 import TransportError  # huggingface_hub >= 2 speaks httpx2
    except ImportError:
        from httpx import TransportError

    namespace = repo_id.split("/")[0]
    try:
        yield
    except OfflineModeIsEnabled:
        raise HubError("HF_HUB_OFFLINE is set: unset it to publish to the Hub") from None
    except RevisionNotFoundError:
        raise HubError(f"revision {revision!r} not found in {repo_id}") from None
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else None
        if status == 401:
            message = "the Hub refused the token (401): set HF_TOKEN to a valid token with write access, or run `hf auth login`"
        elif status == 403:
            message = f"the token may not write to {namespace!r} (403): use a namespace it can write to, or a token with write access"
        elif status == 404 or isinstance(error, RepositoryNotFoundError):
            message = (
                f"namespace {namespace!r} not found or not yours (404): check the ORG in {repo_id}"
            )
        else:
            message = f"the Hub answered {status}: {_scrub(str(error))}"
        raise HubError(message) from None
    except ValueError as error:  # huggingface_hub: the Hub refused the card's YAML
        if "metadata" not in str(error).lower():
            raise
        detail = " ".join(line.strip("- ") for line in str(error).splitlines()[1:3])
        raise HubError(f"the Hub refused the card's metadata: {_scrub(detail)}") from None
    except (TransportError, ConnectionError, TimeoutError) as error:
        raise HubError(
            f"could not reach {constants.ENDPOINT} ({type(error).__name__}): check the network "
            "or HF_ENDPOINT"
        ) from None


def push_files(
    repo_id: str,
    repo_type: str,
    files: dict[str, Path | bytes],
    *,
    message: str,
    private: bool = False,
    revision: str | None = None,
    stale: Callable[[str], bool] = lambda path: False,
) -> Pushed:
    """Create the repo (and branch) if needed, then add `files` (path in repo -> local file or
    bytes) and delete the remote files that `stale` marks and `files` does not hold, in one
    commit. Raises HubError (one line) for anything the user can fix."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    check_repo_id(repo_id)
    require_token()
    # one INFO line per HTTP request would bury the line that matters
    logging.getLogger("httpx2").setLevel(max(logging.getLogger("httpx2").level, logging.WARNING))
    api = HfApi()
    with hub_errors(repo_id, revision):
        # private=None leaves an organisation's default visibility alone
        api.create_repo(repo_id, repo_type=repo_type, private=private or None, exist_ok=True)
        if revision and revision != "main":
            api.create_branch(repo_id, branch=revision, repo_type=repo_type, exist_ok=True)
        remote = api.list_repo_files(repo_id, repo_type=repo_type, revision=revision)
        operations: list = [
            CommitOperationAdd(
                path_in_repo=path,
                path_or_fileobj=content if isinstance(content, bytes) else str(content),
            )
            for path, content in files.items()
        ]
        operations += [
            CommitOperationDelete(path_in_repo=path)
            for path in remote
            if stale(path) and path not in files
        ]
        info = api.create_commit(
            repo_id, operations, commit_message=message, repo_type=repo_type, revision=revision
        )
    prefix = "" if repo_type == "model" else f"{repo_type}s/"
    url = f"{api.endpoint}/{prefix}{repo_id}" + (f"/tree/{revision}" if revision else "")
    log.debug("pushed %d files to %s (commit %s)", len(files), url, info.oid)
    return Pushed(url, info.oid)
