#!/usr/bin/env python3
"""kube-schemas.py: strict JSON schemas for kubeconform, made offline.

kubeconform normally downloads its schemas from GitHub, which these machines cannot reach.
This script makes the same kind of schemas locally, from
  (a) a Kubernetes OpenAPI v2 document: a file (--openapi) or a live apiserver's
      /openapi/v2, read with kubectl (--kubeconfig; by default the kubectl cached by
      scripts/kube-control-plane.sh). Kinds come from x-kubernetes-group-version-kind.
      Kinds the cluster serves from CRDs are left out (the apiserver publishes their
      schemas lossily): pass their CRD files, or --cluster-crds to read the CRDs, and
  (b) CustomResourceDefinition YAML (--crd FILE or DIR, multi-document, '-' for stdin):
      each served version's openAPIV3Schema.

It writes one file per kind and version into --out, named the way kubeconform looks them
up with the template it prints on stdout:
    DIR/{{ .ResourceKind }}{{ .KindSuffix }}.json
i.e. the lowercased kind, then '-' and the first label of the API group (none for the core
group), then '-' and the version: deployment-apps-v1.json, service-v1.json,
community-spectrus-v1alpha1.json (kind Community, apiVersion spectrus.io/v1alpha1).

The schemas are strict, like the public "-strict" sets: every object schema that lists
properties and says nothing about additional ones gets additionalProperties: false, so
kubeconform -strict reports unknown fields (x-kubernetes-preserve-unknown-fields lifts
that). They follow the apiserver where plain OpenAPI would not: int-or-string fields take
either, quantities take numbers, a null optional field or map value passes (Kubernetes
reads it as unset; kubectl writes creationTimestamp: null) while a null required field or
list item fails, nullable: true is honoured, embedded resources need apiVersion and kind,
and a custom resource's metadata is checked as ObjectMeta when that is known (from
--openapi/--kubeconfig in the same run, or --k8s-schemas DIR from an earlier one).

Kubernetes definitions go to DIR/_definitions.json once (each also as "nullable.NAME");
the per-kind files refer to it relatively, which kubeconform resolves from a local
directory, and which keeps recursive definitions (JSONSchemaProps) finite. CRD schemas
have no references (but to ObjectMeta) and are written whole.

Usage:
    kube-schemas.py --out DIR [--openapi FILE | --kubeconfig FILE [--cluster-crds]]
                    [--crd FILE]... [--k8s-schemas DIR] [--clean]
    kubeconform -strict -schema-location "$(kube-schemas.py --out DIR ...)" manifests.yaml

e.g. the Kubernetes schemas once into a cache, CRD schemas per run:
    kube-schemas.py --kubeconfig "$KUBECONFIG" --out ~/.cache/spectrus-kube/v1.37.1/schemas
    kube-schemas.py --crd chart/crds/ --k8s-schemas ~/.cache/.../schemas --out "$tmp"
    kubeconform -strict -schema-location ~/.cache/.../schemas/'{{ .ResourceKind }}...' \
                -schema-location "$tmp"/'{{ .ResourceKind }}{{ .KindSuffix }}.json' ...

--out may be reused: files are replaced atomically (readers never see half a file) and
DIR/_index.json records what was written (and a hash of this script, so a cache can tell
it is stale); --clean first removes the schemas an earlier run listed there. Kubernetes
and CRD schemas may share a directory or not.

Only the schema-location template goes to stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

DEFS_FILE = "_definitions.json"
INDEX_FILE = "_index.json"
DRAFT = "http://json-schema.org/draft-04/schema#"  # kubeconform's default draft
TEMPLATE = "{{ .ResourceKind }}{{ .KindSuffix }}.json"

OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
QUANTITY_PATTERN = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
NULLABLE = "nullable."  # prefix of the definitions that also accept null
V2_REF = "#/definitions/"

# Schema keywords kept as they are (validation keywords shared by OpenAPI and draft 4).
PLAIN_KEYWORDS = (
    "format",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "required",
)

Schema = dict[str, Any]


def log(msg: str) -> None:
    print(f"[kube-schemas] {msg}", file=sys.stderr)


def schema_filename(kind: str, api_version: str) -> str:
    """The file kubeconform's {{ .ResourceKind }}{{ .KindSuffix }}.json names.

    KindSuffix is '-' + the first dot-separated label of the group (or of the version,
    for the core group's bare 'v1') + '-' + the version, all lowercased.
    """
    group_parts = api_version.split("/")
    suffix = "-" + group_parts[0].split(".")[0].lower()
    if len(group_parts) > 1:
        suffix += "-" + group_parts[1].lower()
    return f"{kind.lower()}{suffix}.json"


def api_version_of(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


def nullable_type(schema: Schema) -> None:
    """Let the schema accept null as well (for fields Kubernetes treats null as unset)."""
    t = schema.get("type")
    if isinstance(t, str):
        schema["type"] = [t, "null"]
    elif isinstance(t, list) and "null" not in t:
        schema["type"] = [*t, "null"]
    if "enum" in schema and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]
    for key in ("oneOf", "anyOf"):
        if key in schema and "type" not in schema:
            schema[key] = [*schema[key], {"type": "null"}]


def int_or_string() -> list[Schema]:
    return [{"type": "string"}, {"type": "integer"}]


# ---------------------------------------------------------------------------------------
# Kubernetes OpenAPI v2 definitions
# ---------------------------------------------------------------------------------------


class V2Converter:
    """Turns OpenAPI v2 definitions into draft-4 schemas referring to DEFS_FILE.

    Kubernetes reads a null as "unset" for optional fields and map values, so those accept
    null (kubectl writes creationTimestamp: null, Helm charts leave empty values as null),
    while required fields and list items do not. For that, DEFS_FILE holds each definition
    twice: as NAME and, also accepting null, as NULLABLE + NAME.
    """

    def __init__(self, definitions: dict[str, Schema]) -> None:
        self.definitions = definitions
        self.missing: set[str] = set()

    def ref(self, ref: str, prefix: str, *, nullable: bool) -> Schema:
        if not ref.startswith(V2_REF):
            raise ValueError(f"unsupported $ref {ref!r}")
        name = ref[len(V2_REF) :]
        if name not in self.definitions:
            if name not in self.missing:
                log(f"warning: $ref to a missing definition {name!r}: anything goes there")
                self.missing.add(name)
            return {}
        return {"$ref": prefix + V2_REF + (NULLABLE if nullable else "") + name}

    def convert(self, node: Schema, prefix: str, *, nullable: bool) -> Schema:
        """One schema node; prefix is '' inside DEFS_FILE, DEFS_FILE in the kind files."""
        if "$ref" in node:  # draft 4 ignores a $ref's siblings (descriptions here)
            return self.ref(node["$ref"], prefix, nullable=nullable)
        out: Schema = {}
        if node.get("format") == "int-or-string" or node.get("x-kubernetes-int-or-string"):
            out["oneOf"] = int_or_string()
        elif "type" in node:
            out["type"] = node["type"]
        for key in PLAIN_KEYWORDS:
            if key in node and not (key == "format" and node[key] == "int-or-string"):
                out[key] = copy.deepcopy(node[key])
        if "enum" in node:
            out["enum"] = copy.deepcopy(node["enum"])
        preserve = bool(node.get("x-kubernetes-preserve-unknown-fields"))
        if "properties" in node:
            required = set(node.get("required", ()))
            out["properties"] = {
                name: self.convert(prop, prefix, nullable=name not in required)
                for name, prop in node["properties"].items()
            }
        if "items" in node:
            out["items"] = self.convert(node["items"], prefix, nullable=False)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            out["additionalProperties"] = self.convert(extra, prefix, nullable=True)
        elif isinstance(extra, bool):
            out["additionalProperties"] = extra
        elif "properties" in node and not preserve:
            out["additionalProperties"] = False
        if nullable:
            nullable_type(out)
        return out

    def definition(self, name: str, *, root: bool = False, nullable: bool = False) -> Schema:
        """A definition for DEFS_FILE, or (root) for its kind's own file."""
        node = self.definitions[name]
        if name == QUANTITY:
            # The v2 document says string, but YAML numbers (cpu: 1) are quantities too;
            # the pattern is the one the apiserver rejects other strings with.
            out: Schema = {
                "oneOf": [{"type": "string", "pattern": QUANTITY_PATTERN}, {"type": "number"}]
            }
            if nullable:
                nullable_type(out)
            return out
        return self.convert(node, DEFS_FILE if root else "", nullable=nullable)


def kubectl_get(kubectl: str, kubeconfig: Path, *args: str) -> str:
    proc = subprocess.run(  # noqa: S603 - an argument list, no shell
        [kubectl, f"--kubeconfig={kubeconfig}", "get", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"kubectl get {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def load_openapi(path: Path | None, kubeconfig: Path | None, kubectl: str | None) -> Schema:
    if path is not None:
        text = path.read_text()
    else:
        assert kubeconfig is not None
        assert kubectl is not None
        text = kubectl_get(kubectl, kubeconfig, "--raw", "/openapi/v2")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        doc = yaml.safe_load(text)
    if not isinstance(doc, dict) or not isinstance(doc.get("definitions"), dict):
        raise SystemExit("not an OpenAPI v2 document (no 'definitions')")
    return doc


def kubernetes_schemas(
    doc: Schema, skip: set[tuple[str, str]]
) -> tuple[Schema, dict[str, tuple[str, Schema]]]:
    """(DEFS_FILE content, {filename: (gvk description, root schema)}).

    Definitions of a (group, kind) in skip are left out: the apiserver publishes those of
    CRDs in v2 lossily (no nullable, no types under int-or-string or preserved fields).
    """
    definitions: dict[str, Schema] = {
        name: node
        for name, node in doc["definitions"].items()
        if not any(
            (gvk.get("group", ""), gvk.get("kind")) in skip
            for gvk in node.get("x-kubernetes-group-version-kind", ())
        )
    }
    if len(definitions) < len(doc["definitions"]):
        log(f"left out {len(doc['definitions']) - len(definitions)} definitions of CRD kinds")
    conv = V2Converter(definitions)
    defs = {name: conv.definition(name) for name in sorted(definitions)}
    defs |= {NULLABLE + name: conv.definition(name, nullable=True) for name in definitions}
    files: dict[str, tuple[str, Schema]] = {}
    for name in sorted(definitions):
        for gvk in definitions[name].get("x-kubernetes-group-version-kind", ()):
            api_version = api_version_of(gvk["group"], gvk["version"])
            root = conv.definition(name, root=True)
            add_file(files, gvk["kind"], api_version, root, f"definition {name}")
    return {"$schema": DRAFT, "definitions": defs}, files


def add_file(
    files: dict[str, tuple[str, Schema]], kind: str, api_version: str, schema: Schema, src: str
) -> None:
    filename = schema_filename(kind, api_version)
    label = f"{api_version} {kind} ({src})"
    schema = {"$schema": DRAFT, **schema}
    if filename in files and files[filename][1] != schema:
        # kubeconform's naming keeps only the group's first label, so two groups may meet.
        log(f"warning: {filename}: {label} replaces {files[filename][0]}")
    files[filename] = (label, schema)


# ---------------------------------------------------------------------------------------
# CustomResourceDefinitions (structural OpenAPI v3 schemas)
# ---------------------------------------------------------------------------------------


def convert_v3(
    node: Any, *, structural: bool = True, optional: bool = False, meta: Schema | None = None
) -> Any:
    """One openAPIV3Schema node as a strict draft-4 schema.

    structural is False inside allOf/anyOf/oneOf/not (at any depth): their branches only
    add constraints to fields the enclosing schema declares, so closing them would reject
    those fields. optional: an optional field or a map value, which the apiserver drops
    when null (so null passes) even where the schema does not say nullable. meta is the
    schema for embedded resources' metadata (ObjectMeta's, if known).
    """
    if isinstance(node, bool):
        return node
    if not isinstance(node, dict):
        raise ValueError(f"not a schema: {node!r}")
    out: Schema = {}
    if "type" in node:
        out["type"] = node["type"]
    for key in PLAIN_KEYWORDS:
        if key in node:
            out[key] = copy.deepcopy(node[key])
    if "enum" in node:
        out["enum"] = copy.deepcopy(node["enum"])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in node:
            out[key] = [convert_v3(sub, structural=False, meta=meta) for sub in node[key]]
    if "not" in node:
        out["not"] = convert_v3(node["not"], structural=False, meta=meta)
    if node.get("x-kubernetes-int-or-string") and not ({"anyOf", "oneOf"} & out.keys()):
        out.pop("type", None)
        out["oneOf"] = int_or_string()
    props: dict[str, Any] | None = None
    if "properties" in node:
        required = set(node.get("required", ()))
        props = {
            n: convert_v3(sub, structural=structural, optional=n not in required, meta=meta)
            for n, sub in node["properties"].items()
        }
    if structural and node.get("x-kubernetes-embedded-resource"):
        # An embedded object always has apiVersion, kind and metadata, checked as such
        # even where its other fields are preserved as they come.
        props = {} if props is None else props
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", meta or {"type": "object"})
        out["required"] = sorted({*out.get("required", ()), "apiVersion", "kind"})
    if props is not None:
        out["properties"] = props
    items = node.get("items")
    if isinstance(items, list):
        out["items"] = [convert_v3(sub, structural=structural, meta=meta) for sub in items]
    elif items is not None:
        out["items"] = convert_v3(items, structural=structural, meta=meta)
    extra = node.get("additionalProperties")
    if extra is not None:
        out["additionalProperties"] = convert_v3(
            extra, structural=structural, optional=True, meta=meta
        )
    elif structural and props is not None and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    if node.get("nullable") or (structural and optional):
        # The schema's own allOf/anyOf/oneOf/not would still judge a null (a oneOf of two
        # 'required' branches fails on it, as both match), so they apply to non-nulls only.
        junctors = {k: out.pop(k) for k in ("allOf", "anyOf", "oneOf", "not") if k in node}
        nullable_type(out)
        if junctors:
            out["anyOf"] = [{"type": "null"}, junctors]
    return out


def crd_root_schema(schema: Schema | None, object_meta: Schema | None) -> Schema:
    """The kind's file from a version's openAPIV3Schema (a permissive one if none)."""
    if not schema:
        return {"type": "object"}
    out = convert_v3(schema, meta=object_meta)
    if not isinstance(out, dict):
        return {"type": "object"}
    out.setdefault("type", "object")
    props = out.get("properties")
    if props is not None:
        # The apiserver accepts these at the root whether or not the schema lists them.
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        # A CRD may only say metadata is an object (or constrain name): the apiserver
        # checks it as ObjectMeta, and so does the schema where that one is known.
        meta = (schema.get("properties") or {}).get("metadata") or {}
        if set(meta) <= {"type", "description"}:
            if object_meta is not None:
                props["metadata"] = object_meta
        else:  # constraints on name/generateName only add to ObjectMeta's own fields
            props["metadata"].pop("additionalProperties", None)
            if object_meta is not None:
                props["metadata"] = {"allOf": [object_meta, props["metadata"]]}
        props.setdefault("metadata", {"type": "object"})
    return out


def iter_yaml_docs(paths: Iterable[str]) -> Iterator[tuple[str, Any]]:
    for p in paths:
        if p == "-":
            yield from (("<stdin>", d) for d in yaml.safe_load_all(sys.stdin))
            continue
        path = Path(p)
        files = (
            sorted(f for f in path.rglob("*") if f.suffix in (".yaml", ".yml", ".json"))
            if path.is_dir()
            else [path]
        )
        for f in files:
            with f.open() as fh:
                yield from ((str(f), d) for d in yaml.safe_load_all(fh))


def iter_crds(paths: Iterable[str]) -> Iterator[tuple[str, Schema]]:
    for src, doc in iter_yaml_docs(paths):
        if not isinstance(doc, dict):
            continue
        if doc.get("kind") == "CustomResourceDefinition":  # a List from kubectl get, too
            yield src, doc
        elif doc.get("kind", "").endswith("List") and isinstance(doc.get("items"), list):
            for item in doc["items"]:
                if isinstance(item, dict) and item.get("kind") == "CustomResourceDefinition":
                    yield src, item


def crd_kinds(crds: Iterable[tuple[str, Schema]]) -> set[tuple[str, str]]:
    """(group, kind) of the CRDs' kinds and of their lists."""
    kinds = set()
    for _src, crd in crds:
        spec = crd.get("spec") or {}
        group, names = str(spec.get("group", "")), spec.get("names") or {}
        kind = str(names.get("kind"))
        kinds |= {(group, kind), (group, str(names.get("listKind") or f"{kind}List"))}
    return kinds


def crd_schemas(
    crds: Iterable[tuple[str, Schema]], object_meta: Schema | None
) -> dict[str, tuple[str, Schema]]:
    files: dict[str, tuple[str, Schema]] = {}
    for src, crd in crds:
        spec = crd.get("spec") or {}
        group = spec.get("group", "")
        kind = (spec.get("names") or {}).get("kind")
        if not group or not kind:
            log(f"warning: {src}: a CRD without spec.group or spec.names.kind; skipped")
            continue
        # apiextensions v1: per-version schemas; v1beta1 may have one top-level schema.
        shared = (spec.get("validation") or {}).get("openAPIV3Schema")
        versions = spec.get("versions") or [{"name": spec.get("version"), "served": True}]
        for ver in versions:
            if not ver.get("name") or not ver.get("served", True):
                continue
            schema = (ver.get("schema") or {}).get("openAPIV3Schema") or shared
            root = crd_root_schema(schema, object_meta)
            name = (crd.get("metadata") or {}).get("name", kind)
            add_file(files, kind, f"{group}/{ver['name']}", root, f"CRD {name} in {src}")
    return files


# ---------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------


def write_json(path: Path, data: Any) -> None:
    """Write atomically, so a concurrent kubeconform never reads half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, separators=(",", ":"), sort_keys=True)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_index(out: Path) -> Schema:
    try:
        index = json.loads((out / INDEX_FILE).read_text())
    except (OSError, ValueError):
        return {"files": {}}
    if not isinstance(index, dict) or not isinstance(index.get("files"), dict):
        return {"files": {}}
    return index


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Write strict kubeconform JSON schemas from Kubernetes OpenAPI v2 and CRDs.",
    )
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--openapi", type=Path, help="an OpenAPI v2 document (JSON or YAML)")
    src.add_argument("--kubeconfig", type=Path, help="read /openapi/v2 from this cluster")
    ap.add_argument(
        "--crd",
        action="append",
        default=[],
        metavar="FILE",
        help="CRD YAML (multi-document, a directory of them, or - for stdin); repeatable",
    )
    ap.add_argument("--out", type=Path, required=True, help="directory to write schemas to")
    ap.add_argument(
        "--cluster-crds",
        action="store_true",
        help="with --kubeconfig: also write schemas for the cluster's CRDs (from their "
        "full definitions; without this flag their kinds are left out)",
    )
    ap.add_argument(
        "--k8s-schemas",
        type=Path,
        metavar="DIR",
        help="Kubernetes schemas an earlier run wrote (to another --out): CRD schemas refer "
        "to its ObjectMeta for metadata (with --openapi/--kubeconfig, their own is used)",
    )
    ap.add_argument("--kubectl", help="kubectl for --kubeconfig (default: the cached one)")
    ap.add_argument(
        "--clean", action="store_true", help="remove schemas an earlier run wrote to --out"
    )
    args = ap.parse_args(argv)
    if args.openapi is None and args.kubeconfig is None and not args.crd:
        ap.error("nothing to do: give --openapi, --kubeconfig and/or --crd")
    if args.cluster_crds and args.kubeconfig is None:
        ap.error("--cluster-crds needs --kubeconfig")

    started = time.monotonic()
    files: dict[str, tuple[str, Schema]] = {}
    defs: Schema | None = None
    k8s_version = None
    crds = list(iter_crds(args.crd))
    if args.openapi is not None or args.kubeconfig is not None:
        kubectl = None
        cluster_crds: list[tuple[str, Schema]] = []
        if args.kubeconfig is not None:
            kubectl = args.kubectl or default_kubectl()
            listed = json.loads(kubectl_get(kubectl, args.kubeconfig, "crd", "-o", "json"))
            cluster_crds = [("the cluster", c) for c in listed.get("items", ())]
        doc = load_openapi(args.openapi, args.kubeconfig, kubectl)
        k8s_version = (doc.get("info") or {}).get("version")
        # Kinds the cluster serves from CRDs are not Kubernetes' own: left out, or taken
        # from their CRDs' full schemas (--cluster-crds).
        defs, files = kubernetes_schemas(doc, skip=crd_kinds(cluster_crds))
        if args.cluster_crds:
            crds = cluster_crds + crds
    object_meta = None
    if defs is not None and OBJECT_META in defs["definitions"]:
        # CRDs converted in the same run check their metadata as the apiserver does.
        object_meta = {"$ref": DEFS_FILE + V2_REF + NULLABLE + OBJECT_META}
    elif args.k8s_schemas is not None:
        other = args.k8s_schemas.resolve() / DEFS_FILE
        try:
            known = NULLABLE + OBJECT_META in json.loads(other.read_text())["definitions"]
        except (OSError, ValueError, KeyError) as exc:
            raise SystemExit(f"--k8s-schemas: cannot read {other}: {exc}") from exc
        if not known:
            raise SystemExit(f"--k8s-schemas: {other} has no {OBJECT_META}")
        object_meta = {"$ref": f"{other.as_uri()}{V2_REF}{NULLABLE}{OBJECT_META}"}
    if crds:
        for filename, entry in crd_schemas(crds, object_meta).items():
            if filename in files:
                log(f"warning: {filename}: {entry[0]} replaces {files[filename][0]}")
            files[filename] = entry

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    index = read_index(out)
    if args.clean:
        for name in index["files"]:
            if "/" not in name and name.endswith(".json"):
                (out / name).unlink(missing_ok=True)
        (out / DEFS_FILE).unlink(missing_ok=True)
        index = {"files": {}}
    if defs is not None:
        write_json(out / DEFS_FILE, defs)
    for filename, (_label, schema) in sorted(files.items()):
        write_json(out / filename, schema)
    index["generator"] = "scripts/kube-schemas.py"
    # Lets a cache of these files tell whether this script changed since it was filled.
    index["generator_sha256"] = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    if k8s_version:
        index["kubernetes"] = k8s_version
    index["files"].update({f: label for f, (label, _s) in files.items()})
    write_json(out / INDEX_FILE, index)

    log(
        f"wrote {len(files)} schemas{' and ' + DEFS_FILE if defs else ''} to {out} "
        f"in {time.monotonic() - started:.1f}s"
    )
    print(f"{out.resolve()}/{TEMPLATE}")
    return 0


def default_kubectl() -> str:
    """The cached kubectl of scripts/kube-control-plane.sh (the system one may differ)."""
    script = Path(__file__).resolve().parent / "kube-control-plane.sh"
    proc = subprocess.run(  # noqa: S603 - our own script, no shell
        [str(script), "path"], capture_output=True, text=True, check=False
    )
    kubectl = Path(proc.stdout.strip()) / "kubectl"
    if proc.returncode != 0 or not kubectl.is_file():
        raise SystemExit(f"cached kubectl not found; run {script} build, or pass --kubectl")
    return str(kubectl)


if __name__ == "__main__":
    sys.exit(main())
