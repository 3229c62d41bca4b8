"""A loopback stand-in for the Hugging Face Hub, for tests only.

It stands in for the Hub and nothing else: a stdlib `ThreadingHTTPServer` on 127.0.0.1 that
answers the requests the real `huggingface_hub` and `datasets` client code sends when it
publishes and reads back a repository (read from huggingface_hub 2.4's hf_api.py,
_commit_api.py, lfs.py and file_download.py, and from what `load_dataset` and
`AutoConfig.from_pretrained` ask for):

  POST /api/repos/create                         create a repo (409 if it exists)
  GET  /api/{type}s/{id}[/revision/{rev}]        repo info (id, sha, private, siblings)
  POST /api/{type}s/{id}/branch/{name}           create a branch (409 if it exists)
  POST /api/validate-yaml                        the card's YAML front matter
  POST /api/{type}s/{id}/preupload/{rev}         upload mode per file (lfs or regular)
  POST /{prefix}{id}.git/info/lfs/objects/batch  LFS batch: where to PUT each object
  PUT  /lfs-upload/{oid}                         the object's bytes (sha256 checked)
  POST /api/{type}s/{id}/commit/{rev}            the ndjson commit (header, file, lfsFile,
                                                 deletedFile, deletedFolder)
  GET  /api/{type}s/{id}/tree/{rev}[/{path}]     the tree (recursive=1 for all files)
  GET|HEAD /{prefix}{id}/resolve/{rev}/{path}    a file's bytes with the Hub's headers

Tokens are checked (401 without a known one); a namespace the token's user does not own is a
404 on create, like the Hub's answer to a namespace that is not yours. Every request is
recorded in `requests` so a test can assert what the client did. Anything else is a 404
named "unhandled" in `requests`, so a missing route shows up in the test that needs it.
What it stores and how a commit applies is tests/fake_hub_store.py.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fake_hub_store import LFS_SUFFIXES, HubRefusal, Repo, yaml_errors

PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
_REPO = r"(?P<repo>[\w.-]+/[\w.-]+)"
_API = re.compile(rf"^/api/(?P<type>model|dataset|space)s/{_REPO}(?P<rest>/.*)?$")
_RESOLVE = re.compile(rf"^/(?:(?P<type>datasets|spaces)/)?{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")  # fmt: skip
_LFS_BATCH = re.compile(rf"^/(?:(?P<type>datasets|spaces)/)?{_REPO}\.git/info/lfs/objects/batch$")
UNAUTHORIZED = HubRefusal(401, "Unauthorized", "Invalid credentials in Authorization header")


class FakeHub:
    """The server, its state, and the URL to point HF_ENDPOINT at."""

    def __init__(self, tokens: dict[str, str], orgs: dict[str, set[str]] | None = None):
        self.tokens = tokens
        """token -> user name."""
        self.orgs = orgs or {}
        """user -> organisations they may create repos in (besides their own name)."""
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs: dict[str, bytes] = {}
        self.requests: list[tuple[str, str, int]] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def files(self, repo_type: str, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        repo = self.repos[(repo_type, repo_id)]
        return {path: item.content for path, item in repo.commits[repo.resolve(revision)].items()}

    def user(self, headers) -> str | None:
        auth = headers.get("Authorization", "")
        return self.tokens.get(auth.removeprefix("Bearer ").strip()) if auth else None

    def owns(self, user: str | None, repo_id: str) -> bool:
        namespace = repo_id.split("/")[0]
        return user is not None and (namespace == user or namespace in self.orgs.get(user, ()))


def _handler(hub: FakeHub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet: requests are recorded in hub.requests
            pass

        # ------------------------------------------------------------ plumbing
        def _body(self) -> bytes:
            if "chunked" not in self.headers.get("Transfer-Encoding", ""):
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))
            data = b""
            while size := int(self.rfile.readline().strip().split(b";")[0], 16):
                data += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
            return data

        def _send(self, status: int, body=b"", headers: dict | None = None) -> None:
            if not isinstance(body, bytes):
                body = json.dumps(body).encode()
                headers = {"Content-Type": "application/json", **(headers or {})}
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            hub.requests.append((self.command, self.path, status))

        def _answer(self, route) -> None:
            """Run a route; a HubRefusal becomes the Hub's error answer."""
            try:
                route()
            except HubRefusal as refusal:
                headers = {"X-Error-Code": refusal.code, "X-Error-Message": refusal.message}
                self._send(refusal.status, {"error": refusal.message}, headers)

        def _repo(self, repo_type: str, repo_id: str) -> Repo:
            repo = hub.repos.get((repo_type, repo_id))
            if repo is None or (repo.private and not hub.owns(hub.user(self.headers), repo_id)):
                raise HubRefusal(404, "RepoNotFound", "Repository not found")
            return repo

        # ------------------------------------------------------------ verbs
        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            self._answer(self._get)

        def do_POST(self) -> None:
            self._answer(self._post)

        def do_PUT(self) -> None:
            data = self._body()
            oid = urlsplit(self.path).path.removeprefix("/lfs-upload/")
            if hashlib.sha256(data).hexdigest() != oid:
                return self._answer(lambda: _refuse(400, "BadRequest", "content is not its oid"))
            hub.lfs[oid] = data
            self._send(200, b"")

        def _get(self) -> None:
            parts = urlsplit(self.path)
            if match := _RESOLVE.match(parts.path):
                return self._resolve(match)
            match = _API.match(parts.path)
            rest = (match["rest"] or "") if match else None
            if rest is not None and (rest in ("", "/") or rest.startswith("/revision/")):
                repo = self._repo(match["type"], match["repo"])
                sha = repo.resolve(rest.removeprefix("/revision/").strip("/") or "main")
                return self._send(200, repo.info(sha))
            if rest is not None and rest.startswith("/tree/"):
                repo = self._repo(match["type"], match["repo"])
                revision, _, folder = rest.removeprefix("/tree/").partition("/")
                recursive = parse_qs(parts.query).get("recursive", ["false"])[0] in ("1", "true")
                entries = repo.tree(repo.resolve(revision), unquote(folder).strip("/"), recursive)
                return self._send(200, entries)
            _refuse(404, "unhandled", f"unhandled GET {parts.path}")

        def _post(self) -> None:
            path, body = urlsplit(self.path).path, self._body()
            if path == "/api/validate-yaml":
                payload = json.loads(body)
                errors = yaml_errors(payload.get("content", ""), payload.get("repoType", "model"))
                status = 400 if errors else 200
                return self._send(status, {"errors": [{"message": e} for e in errors], "warnings": []})  # fmt: skip
            if hub.user(self.headers) is None:
                raise UNAUTHORIZED
            if path == "/api/repos/create":
                return self._create(json.loads(body))
            if _LFS_BATCH.match(path):
                return self._lfs_batch(json.loads(body))
            match = _API.match(path)
            rest = (match["rest"] or "") if match else ""
            if rest.startswith("/branch/"):
                repo = self._repo(match["type"], match["repo"])
                name = unquote(rest.removeprefix("/branch/"))
                if name in repo.branches:
                    _refuse(409, "Conflict", f"Branch {name} already exists")
                start = (json.loads(body or b"{}") or {}).get("startingPoint") or "main"
                repo.branches[name] = repo.resolve(start)
                return self._send(200, {})
            if rest.startswith("/preupload/"):
                repo = self._repo(match["type"], match["repo"])
                files = repo.commits[repo.resolve(rest.removeprefix("/preupload/"))]
                return self._send(200, {"files": [_upload_mode(f, files) for f in json.loads(body)["files"]]})  # fmt: skip
            if rest.startswith("/commit/"):
                repo = self._repo(match["type"], match["repo"])
                lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
                with hub.lock:
                    sha = repo.commit(rest.removeprefix("/commit/"), lines, hub.lfs)
                url = f"{hub.url}/{PREFIX[repo.repo_type]}{repo.repo_id}/commit/{sha}"
                return self._send(200, {"success": True, "commitOid": sha, "commitUrl": url})
            _refuse(404, "unhandled", f"unhandled POST {path}")

        # ------------------------------------------------------------ routes
        def _create(self, payload: dict) -> None:
            user = hub.user(self.headers)
            namespace = payload.get("organization") or user
            repo_id = f"{namespace}/{payload['name']}"
            if not hub.owns(user, repo_id):
                _refuse(404, "RepoNotFound", f"Namespace {namespace} not found")
            repo_type = payload.get("type") or "model"
            url = f"{hub.url}/{PREFIX[repo_type]}{repo_id}"
            with hub.lock:
                if (repo_type, repo_id) in hub.repos:
                    return self._send(409, {"error": "You already created this repo", "url": url})
                private = payload.get("visibility") == "private"
                hub.repos[(repo_type, repo_id)] = Repo(repo_type, repo_id, private)
            self._send(200, {"url": url, "name": repo_id, "id": repo_id})

        def _resolve(self, match) -> None:
            repo_type = {"datasets": "dataset", "spaces": "space", None: "model"}[match["type"]]
            repo = self._repo(repo_type, match["repo"])
            sha = repo.resolve(match["rev"])
            path = unquote(match["path"])
            item = repo.commits[sha].get(path)
            if item is None:
                _refuse(404, "EntryNotFound", f"{path} does not exist")
            headers = {"X-Repo-Commit": sha, "ETag": f'"{item.etag()}"'}
            if item.lfs:
                headers["X-Linked-Etag"] = f'"{item.etag()}"'
                headers["X-Linked-Size"] = str(len(item.content))
            self._send(200, item.content, headers)

        def _lfs_batch(self, payload: dict) -> None:
            objects = []
            for item in payload["objects"]:
                entry = {"oid": item["oid"], "size": item["size"]}
                if item["oid"] not in hub.lfs:
                    href = f"{hub.url}/lfs-upload/{item['oid']}"
                    entry["actions"] = {"upload": {"href": href, "header": {}}}
                objects.append(entry)
            self._send(200, {"transfer": "basic", "objects": objects})

    return Handler


def _refuse(status: int, code: str, message: str):
    raise HubRefusal(status, code, message)


def _upload_mode(file: dict, current: dict) -> dict:
    """The preupload answer for one file: LFS for binary suffixes and big files."""
    lfs = file["path"].endswith(LFS_SUFFIXES) or file["size"] > 10 * 1024 * 1024
    stored = current.get(file["path"])
    return {"path": file["path"], "uploadMode": "lfs" if lfs else "regular",
            "shouldIgnore": False, "oid": stored.etag() if stored else None}  # fmt: skip
