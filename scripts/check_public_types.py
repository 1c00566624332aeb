#!/usr/bin/env python3
"""Checks src/lib.rs's rule "What the public API may mention" on rustdoc's JSON output.

Walks every public item reachable from the crate root (modules, re-exports, functions' inputs
and outputs, pub struct fields, enum variants, trait items, inherent and trait impls with their
associated types, generic parameters, bounds and where clauses, type aliases, constants) and
prints each type, trait or re-export from a crate outside the allowed set, with the path of the
item that names it. Exits 1 when it finds any, 2 when the JSON cannot be made or read.

    python3 scripts/check_public_types.py            # builds the JSON, then checks it
    python3 scripts/check_public_types.py FILE.json  # checks a JSON file made before

Without a file it runs, in the workspace's target directory,

    cargo rustdoc --locked -p bearer-guard --all-features --lib -- \
        -Z unstable-options --output-format json

with RUSTC_BOOTSTRAP=1 set for rustdoc alone (a wrapper named by RUSTDOC), so that the stable
toolchain writes JSON. Not for cargo: build scripts that watch RUSTC_BOOTSTRAP (proc-macro2's)
would run again, and the next build without it would rebuild nearly every dependency.

Standard library only; reads the stable toolchain's format (57 on 1.95, FORMAT_VERSIONS below);
another format version is refused rather than misread.
"""

import json
import os
import subprocess
import sys
import tempfile

# The rustdoc JSON format versions this script knows how to read.
FORMAT_VERSIONS = range(45, 60)

# src/lib.rs: "Besides this crate's own types and `std`, a public signature ... names only types
# of `http`, `tower`, `axum` and `serde_json` (with the `serde` traits `serde_json` is built on),
# and `reqwest::Client` where a client is injected." tower's `Service` and `Layer` are defined
# in tower_service and tower_layer (tower re-exports them), axum's body and extractor traits in
# axum_core (axum re-exports them): the same types under the names the rule uses.
ALLOWED_CRATES = {
    "std", "core", "alloc",
    "http",
    "tower", "tower_service", "tower_layer",
    "axum", "axum_core",
    "serde_json", "serde", "serde_core",
}
# Single items allowed from crates otherwise kept out of the public API.
ALLOWED_ITEMS = {
    "reqwest::Client",
    "reqwest::async_impl::client::Client",
}
# Public items whose signatures are not the public API: the `fuzzing` module is thin wrappers
# for the fuzz targets (feature `fuzzing`, "not a public API; never enable it in production").
SKIPPED_MODULES = {"bearer_guard::fuzzing"}
# Dependency types the public API names today although the rule does not list their crate:
# each accepted here with its reason, for the maintainers to decide (wrap it, or widen the rule
# in src/lib.rs). A new entry needs a reason as good as these.
ACCEPTED = {
    # `pin_project!` (pin-project-lite) writes the `Unpin` impl of the three public
    # `ResponseFuture`s as `impl Unpin for ResponseFuture<..> where PinnedFieldsOf<..>: Unpin`
    # (tower and tower-http's futures carry the same bound). No caller can name the type (it
    # is `__private`); the future is `Unpin` exactly when its pinned fields are.
    "pin_project_lite::__private::PinnedFieldsOf",
}


class Walker:
    def __init__(self, doc):
        self.index = doc["index"]
        self.paths = doc["paths"]
        self.crates = {int(k): v["name"] for k, v in doc["external_crates"].items()}
        self.root = doc["root"]
        self.local_name = self.index[str(self.root)]["name"]
        self.seen = set()
        self.findings = {}

    # ---- where an id lives ----
    def crate_of(self, id_):
        if id_ is None:
            return None
        key = str(id_)
        if key in self.paths:
            crate_id = self.paths[key]["crate_id"]
        elif key in self.index:
            crate_id = self.index[key]["crate_id"]
        else:
            return None
        return self.local_name if crate_id == 0 else self.crates.get(crate_id, f"crate#{crate_id}")

    def full_path(self, id_, fallback):
        entry = self.paths.get(str(id_))
        if entry:
            return "::".join(entry["path"])
        return fallback

    def check_id(self, id_, shown, where):
        crate = self.crate_of(id_)
        if crate is None or crate == self.local_name or crate in ALLOWED_CRATES:
            return
        path = self.full_path(id_, shown)
        if path in ALLOWED_ITEMS or shown in ALLOWED_ITEMS or path in ACCEPTED:
            return
        self.findings.setdefault(path, set()).add(where)

    # ---- types, paths, bounds, generics ----
    def path(self, p, where):
        if p is None:
            return
        self.check_id(p.get("id"), p.get("path") or p.get("name") or "?", where)
        self.generic_args(p.get("args"), where)

    def generic_args(self, args, where):
        if not args or not isinstance(args, dict):
            return
        if "angle_bracketed" in args:
            ab = args["angle_bracketed"]
            for arg in ab.get("args", []):
                if isinstance(arg, dict) and "type" in arg:
                    self.type_(arg["type"], where)
            for c in ab.get("constraints", ab.get("bindings", [])):
                self.generic_args(c.get("args"), where)
                binding = c.get("binding", {})
                if "equality" in binding:
                    term = binding["equality"]
                    if isinstance(term, dict) and "type" in term:
                        self.type_(term["type"], where)
                if "constraint" in binding:
                    self.bounds(binding["constraint"], where)
        elif "parenthesized" in args:
            par = args["parenthesized"]
            for t in par.get("inputs", []):
                self.type_(t, where)
            if par.get("output") is not None:
                self.type_(par["output"], where)

    def type_(self, t, where):
        if t is None or not isinstance(t, dict):
            return
        (kind, v), = t.items()
        if kind == "resolved_path":
            self.path(v, where)
        elif kind == "dyn_trait":
            for poly in v.get("traits", []):
                self.path(poly.get("trait"), where)
                self.generics_params(poly.get("generic_params", []), where)
        elif kind in ("borrowed_ref", "raw_pointer"):
            self.type_(v["type"], where)
        elif kind == "slice":
            self.type_(v, where)
        elif kind == "array":
            self.type_(v["type"], where)
        elif kind == "tuple":
            for x in v:
                self.type_(x, where)
        elif kind == "impl_trait":
            self.bounds(v, where)
        elif kind == "function_pointer":
            self.sig(v["sig"], where)
            self.generics_params(v.get("generic_params", []), where)
        elif kind == "qualified_path":
            self.type_(v.get("self_type"), where)
            self.path(v.get("trait"), where)
            self.generic_args(v.get("args"), where)
        elif kind == "pat":
            self.type_(v.get("type"), where)
        # generic, primitive, infer: nothing from another crate

    def bounds(self, bounds, where):
        for b in bounds or []:
            if "trait_bound" in b:
                self.path(b["trait_bound"]["trait"], where)
                self.generics_params(b["trait_bound"].get("generic_params", []), where)

    def generics_params(self, params, where):
        for p in params or []:
            kind = p.get("kind", {})
            if "type" in kind:
                self.bounds(kind["type"].get("bounds"), where)
                self.type_(kind["type"].get("default"), where)
            elif "const" in kind:
                self.type_(kind["const"].get("type"), where)

    def generics(self, g, where):
        if not g:
            return
        self.generics_params(g.get("params"), where)
        for pred in g.get("where_predicates", []):
            if "bound_predicate" in pred:
                bp = pred["bound_predicate"]
                self.type_(bp.get("type"), where)
                self.bounds(bp.get("bounds"), where)
                self.generics_params(bp.get("generic_params"), where)
            elif "eq_predicate" in pred:
                ep = pred["eq_predicate"]
                self.type_(ep.get("lhs"), where)
                rhs = ep.get("rhs")
                if isinstance(rhs, dict) and "type" in rhs:
                    self.type_(rhs["type"], where)

    def sig(self, sig, where):
        for _name, t in sig.get("inputs", []):
            self.type_(t, where)
        self.type_(sig.get("output"), where)

    # ---- items ----
    def item(self, id_, where, public_by_default=False):
        key = str(id_)
        if key in self.seen:
            return
        item = self.index.get(key)
        if item is None:
            return  # an item of another crate: only its path is checked, where it is named
        self.seen.add(key)
        vis = item.get("visibility")
        if vis != "public" and not (public_by_default and vis == "default"):
            return
        name = item.get("name")
        here = f"{where}::{name}" if name and where else (name or where)
        if here in SKIPPED_MODULES:
            return
        (kind, v), = item["inner"].items()
        if kind == "module":
            for child in v.get("items", []):
                self.item(child, here)
        elif kind == "use":
            target = v.get("id")
            if target is not None and str(target) in self.index:
                self.item(target, where)
            else:
                self.check_id(target, v.get("source", "?"), f"{where} (pub use {v.get('source')})")
        elif kind == "function":
            self.sig(v["sig"], here)
            self.generics(v.get("generics"), here)
        elif kind == "struct":
            self.generics(v.get("generics"), here)
            sk = v.get("kind")
            fields = []
            if isinstance(sk, dict) and "plain" in sk:
                fields = sk["plain"].get("fields", [])
            elif isinstance(sk, dict) and "tuple" in sk:
                fields = [f for f in sk["tuple"] if f is not None]
            for f in fields:
                self.item(f, here)
            self.impls(v.get("impls", []), here)
        elif kind == "union":
            self.generics(v.get("generics"), here)
            for f in v.get("fields", []):
                self.item(f, here)
            self.impls(v.get("impls", []), here)
        elif kind == "enum":
            self.generics(v.get("generics"), here)
            for variant in v.get("variants", []):
                self.item(variant, here, public_by_default=True)
            self.impls(v.get("impls", []), here)
        elif kind == "variant":
            vk = v.get("kind")
            fields = []
            if isinstance(vk, dict) and "tuple" in vk:
                fields = [f for f in vk["tuple"] if f is not None]
            elif isinstance(vk, dict) and "struct" in vk:
                fields = vk["struct"].get("fields", [])
            for f in fields:
                self.item(f, here, public_by_default=True)
        elif kind == "struct_field":
            self.type_(v, here)
        elif kind == "trait":
            self.generics(v.get("generics"), here)
            self.bounds(v.get("bounds"), here)
            for child in v.get("items", []):
                self.item(child, here, public_by_default=True)
        elif kind == "impl":
            self.generics(v.get("generics"), where)
            self.path(v.get("trait"), where)
            for child in v.get("items", []):
                # Items of a trait impl are as public as the trait; inherent ones say so.
                self.item(child, where, public_by_default=v.get("trait") is not None)
        elif kind == "type_alias":
            self.generics(v.get("generics"), here)
            self.type_(v.get("type"), here)
        elif kind in ("constant", "static"):
            self.type_(v.get("type"), here)
        elif kind == "assoc_const":
            self.type_(v.get("type"), here)
        elif kind == "assoc_type":
            self.generics(v.get("generics"), here)
            self.bounds(v.get("bounds"), here)
            self.type_(v.get("type"), here)
        # macros, primitives, extern crates: no types

    def impls(self, ids, where):
        for id_ in ids:
            impl = self.index.get(str(id_))
            if impl is None:
                continue
            v = impl["inner"]["impl"]
            # Auto traits and blanket impls (`impl<T> From<T> for T`, …) come from their crate.
            if v.get("is_synthetic") or v.get("blanket_impl") is not None:
                continue
            key = str(id_)
            if key in self.seen:
                continue
            self.seen.add(key)
            trait = v.get("trait")
            label = f"{where} (impl {trait['path']})" if trait else where
            self.generics(v.get("generics"), label)
            self.path(trait, label)
            for child in v.get("items", []):
                self.item(child, where, public_by_default=trait is not None)


def build_json():
    """Runs rustdoc's JSON output for the library; returns the file's path."""
    metadata = subprocess.run(
        ["cargo", "metadata", "--locked", "--format-version", "1", "--no-deps"],
        check=True, capture_output=True, text=True)
    target = json.loads(metadata.stdout)["target_directory"]
    rustdoc = os.environ.get("RUSTDOC", "rustdoc")
    with tempfile.TemporaryDirectory() as scratch:
        wrapper = os.path.join(scratch, "rustdoc")
        with open(wrapper, "w", encoding="utf-8") as f:
            f.write(f'#!/bin/sh\nRUSTC_BOOTSTRAP=1 exec "{rustdoc}" "$@"\n')
        os.chmod(wrapper, 0o755)
        subprocess.run(
            ["cargo", "rustdoc", "--locked", "-p", "bearer-guard", "--all-features", "--lib",
             "--", "-Z", "unstable-options", "--output-format", "json"],
            check=True, env={**os.environ, "RUSTDOC": wrapper})
    return os.path.join(target, "doc", "bearer_guard.json")


def main(argv):
    if len(argv) > 2 or (len(argv) == 2 and argv[1].startswith("-")):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        path = argv[1] if len(argv) == 2 else build_json()
    except (OSError, subprocess.CalledProcessError, ValueError, KeyError) as e:
        print(f"cannot make rustdoc's JSON: {e}", file=sys.stderr)
        return 2
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        print(f"cannot read {path}: {e}", file=sys.stderr)
        return 2
    version = doc.get("format_version")
    if version not in FORMAT_VERSIONS:
        print(f"rustdoc JSON format {version} is not one this script reads "
              f"({FORMAT_VERSIONS.start}-{FORMAT_VERSIONS.stop - 1})", file=sys.stderr)
        return 2
    walker = Walker(doc)
    walker.item(walker.root, "")
    if len(walker.seen) < 2:
        print("no public item found: the walk proves nothing", file=sys.stderr)
        return 2
    if not walker.findings:
        print(f"public API of {walker.local_name}: {len(walker.seen)} items, "
              "no type of a crate outside the allowed set")
        return 0
    print(f"public API of {walker.local_name}: types of crates outside the allowed set "
          "(src/lib.rs, \"What the public API may mention\"):", file=sys.stderr)
    for path in sorted(walker.findings):
        print(f"  {path}", file=sys.stderr)
        for where in sorted(walker.findings[path]):
            print(f"      named by {where}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
