"""What the fake Hub (tests/fake_hub.py) stores: repositories as commits of files, LFS objects,
and the checks its validate-yaml answers with. Tests only; it stands in for the Hub only."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from urllib.parse import unquote

import yaml

LFS_SUFFIXES = (".parquet", ".safetensors", ".bin", ".pt", ".arrow")
KNOWN_LICENSES = {
    "apache-2.0", "mit", "cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0", "cc0-1.0", "bsd-3-clause",
    "gpl-3.0", "odc-by", "pddl", "other", "unknown",
}  # fmt: skip


class HubRefusal(Exception):
    """An answer the Hub gives with an error status and X-Error-Code."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def git_blob_oid(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class Stored:
    """One file of a commit; `lfs` files are listed with their LFS pointer as the Hub does."""

    content: bytes
    lfs: bool

    def entry(self, path: str) -> dict:
        record = {"type": "file", "path": path, "size": len(self.content)}
        if self.lfs:
            sha = hashlib.sha256(self.content).hexdigest()
            pointer = b"version https://git-lfs.github.com/spec/v1\n" + sha.encode()
            record["oid"] = git_blob_oid(pointer)
            record["lfs"] = {"oid": sha, "size": len(self.content), "pointerSize": 134}
        else:
            record["oid"] = git_blob_oid(self.content)
        return record

    def etag(self) -> str:
        """What the client compares with its local oid: sha256 for LFS, git's sha1 otherwise."""
        return hashlib.sha256(self.content).hexdigest() if self.lfs else git_blob_oid(self.content)


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, dict[str, Stored]] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        sha = commit_sha(self.repo_id, "initial", {})
        self.commits[sha], self.branches["main"], self.messages[sha] = {}, sha, "initial commit"

    def resolve(self, revision: str) -> str:
        revision = unquote(revision)
        if revision in self.branches:
            return self.branches[revision]
        if revision in self.commits:
            return revision
        raise HubRefusal(404, "RevisionNotFound", f"Invalid rev id: {revision}")

    def info(self, sha: str) -> dict:
        files = self.commits[sha]
        info = {
            "_id": self.repo_id, "id": self.repo_id, "author": self.repo_id.split("/")[0],
            "sha": sha, "private": self.private, "disabled": False, "gated": False,
            "lastModified": "2025-01-01T00:00:00.000Z", "tags": [],
            "siblings": [{"rfilename": path} for path in sorted(files)],
        }  # fmt: skip
        if "README.md" in files:
            info["cardData"] = front_matter(files["README.md"].content.decode()) or {}
        return info

    def tree(self, sha: str, folder: str, recursive: bool) -> list[dict]:
        """Entries under `folder` (its direct children, or all with `recursive`)."""
        files = self.commits[sha]
        prefix = f"{folder}/" if folder else ""
        if folder and not any(path.startswith(prefix) for path in files):
            raise HubRefusal(404, "EntryNotFound", f"{folder} does not exist")
        entries, folders = [], set()
        for path, item in sorted(files.items()):
            if not path.startswith(prefix):
                continue
            parts = path[len(prefix) :].split("/")
            for depth in range(1, len(parts)):
                sub = prefix + "/".join(parts[:depth])
                if (recursive or depth == 1) and sub not in folders:
                    folders.add(sub)
                    oid = hashlib.sha1(f"tree {sub}".encode()).hexdigest()
                    entries.append({"type": "directory", "path": sub, "oid": oid})
            if recursive or len(parts) == 1:
                entries.append(item.entry(path))
        return entries

    def commit(self, branch: str, lines: list[dict], lfs: dict[str, bytes]) -> str:
        """Apply an ndjson commit's lines on top of `branch`; returns the new commit's id."""
        parent = self.resolve(branch)
        files = dict(self.commits[parent])
        summary = ""
        for line in lines:
            key, value = line["key"], line["value"]
            if key == "header":
                summary = value.get("summary", "")
            elif key == "file":
                files[value["path"]] = Stored(base64.b64decode(value["content"]), False)
            elif key == "lfsFile":
                if value["oid"] not in lfs:
                    raise HubRefusal(400, "BadRequest", f"LFS object {value['oid']} missing")
                files[value["path"]] = Stored(lfs[value["oid"]], True)
            elif key == "deletedFile":
                if files.pop(value["path"], None) is None:
                    raise HubRefusal(404, "EntryNotFound", "A file with this name doesn't exist")
            elif key == "deletedFolder":
                folder = value["path"].rstrip("/") + "/"
                files = {path: f for path, f in files.items() if not path.startswith(folder)}
            else:
                raise HubRefusal(400, "BadRequest", f"unknown commit line {key}")
        sha = commit_sha(self.repo_id, parent, files)
        self.commits[sha], self.messages[sha] = files, summary
        self.branches[unquote(branch)] = sha
        return sha


def commit_sha(repo_id: str, parent: str, files: dict[str, Stored]) -> str:
    digest = hashlib.sha1(f"{repo_id}\0{parent}".encode())
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + files[path].etag().encode())
    return digest.hexdigest()


def front_matter(text: str) -> dict | None:
    match = re.match(r"^---\n(.*?)\n---\n", text, re.DOTALL)
    return yaml.safe_load(match.group(1)) if match else None


def yaml_errors(content: str, repo_type: str) -> list[str]:
    """What the Hub's validator would refuse, as far as these tests need: YAML that does not
    parse, an unknown licence id, `other` without a name, configs without names or data files,
    two default configs."""
    try:
        data = front_matter(content)
    except yaml.YAMLError as error:
        return [f"YAML does not parse: {error}"]
    if data is None:
        return []
    errors = []
    license_id = data.get("license")
    if license_id is not None and license_id not in KNOWN_LICENSES:
        errors.append(f'"license" must be a known licence id, got {license_id!r}')
    if license_id == "other" and not data.get("license_name"):
        errors.append('"license_name" is required when "license" is "other"')
    configs = data.get("configs") or []
    if repo_type == "dataset" and configs:
        if sum(bool(c.get("default")) for c in configs) > 1:
            errors.append('"configs": at most one config can be the default')
        for config in configs:
            if not config.get("config_name") or not config.get("data_files"):
                errors.append('"configs": each config needs a config_name and data_files')
    return errors
