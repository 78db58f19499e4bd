#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/TARGET/): well-formed inputs
and the hostile shapes the tests know, so fuzzing starts from every branch they reach.
Run from anywhere: python3 tests/fuzz/make_seeds.py"""
import gzip, io, json, os, tarfile

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "corpus")


def put(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def tar(entries, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for e in entries:
            info = tarfile.TarInfo(e["name"])
            info.type = e.get("type", tarfile.REGTYPE)
            info.mode = e.get("mode", 0o644)
            info.uid, info.gid = e.get("owner", (0, 0))
            info.mtime = e.get("mtime", 1700000000)
            info.linkname = e.get("link", "")
            info.devmajor, info.devminor = e.get("dev", (0, 0))
            if "xattrs" in e:
                info.pax_headers = {"SCHILY.xattr." + k: v for k, v in e["xattrs"].items()}
            data = e.get("data", b"")
            info.size = len(data) if info.type == tarfile.REGTYPE else 0
            t.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
    return buf.getvalue()


D, F, L, H = tarfile.DIRTYPE, tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE
layers = {
    "plain": [dict(name="etc", type=D, mode=0o755), dict(name="etc/hosts", data=b"127.0.0.1 x\n"),
              dict(name="bin", type=D), dict(name="bin/sh", data=b"#!\n", mode=0o4755),
              dict(name="bin/ln", type=L, link="sh"), dict(name="bin/hard", type=H, link="bin/sh")],
    "whiteouts": [dict(name="a", type=D), dict(name="a/.wh.gone"), dict(name="a/.wh..wh..opq"),
                  dict(name=".wh.top"), dict(name="b", type=D), dict(name="b/kept", data=b"k")],
    "special": [dict(name="dev", type=D), dict(name="dev/null", type=tarfile.CHRTYPE, dev=(1, 3)),
                dict(name="dev/sda", type=tarfile.BLKTYPE, dev=(8, 0)),
                dict(name="dev/fifo", type=tarfile.FIFOTYPE),
                dict(name="x", data=b"xattrs", xattrs={"user.a": "1", "security.capability": "\x01"}),
                dict(name="owned", data=b"o", owner=(1000, 1000), mode=0o600)],
    "escape-dotdot": [dict(name="../outside", data=b"no")],
    "escape-symlink": [dict(name="link", type=L, link="/tmp"), dict(name="link/through", data=b"no")],
    "escape-abs": [dict(name="/etc/abs", data=b"leading slash")],
    "hardlink-forward": [dict(name="h", type=H, link="later"), dict(name="later", data=b"l")],
    "hardlink-dir": [dict(name="d", type=D), dict(name="hd", type=H, link="d")],
    "private-xattr": [dict(name="p", data=b"p", xattrs={"trusted.overlay.opaque": "y"})],
    "duplicate": [dict(name="dup", data=b"first"), dict(name="dup", type=D), dict(name="dup/x")],
    "root-file": [dict(name=".", data=b"root as a file")],
    "deep": [dict(name="/".join(["d"] * n), type=D) for n in range(1, 40)],
}
for name, entries in layers.items():
    put("layer", name + ".tar", tar(entries))
put("layer", "plain.tar.gz", gzip.compress(tar(layers["plain"]), mtime=0))
put("layer", "gnu.tar", tar(layers["plain"], tarfile.GNU_FORMAT))
put("layer", "truncated.tar", tar(layers["plain"])[:700])
put("layer", "empty", b"")

# OCI layouts, with the fuzz target's placeholders (fuzz_oci_layout.cc).
layer = tar(layers["plain"])
config = {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": ["@DIFF@"]},
          "config": {"Cmd": ["/bin/sh"]}, "history": [{"created_by": "seed"}]}
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "@CONFIG@",
                       "size": 0},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "@LAYER@",
                        "size": 0}]}
index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
         "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "@MANIFEST@",
                        "size": 0, "annotations": {"org.opencontainers.image.ref.name": "1.0"},
                        "platform": {"os": "linux", "architecture": "amd64"}}]}



def layout(idx, man, conf, blob):
    m = json.dumps(man).replace('"@CONFIG@", "size": 0', '"@CONFIG@", "size": @CONFIG_SIZE@') \
        .replace('"@LAYER@", "size": 0', '"@LAYER@", "size": @LAYER_SIZE@')
    i = json.dumps(idx).replace('"@MANIFEST@", "size": 0', '"@MANIFEST@", "size": @MANIFEST_SIZE@')
    return i.encode() + b"\n--\n" + m.encode() + b"\n--\n" + json.dumps(conf).encode() + b"\n--\n" + blob


put("oci_layout", "valid", layout(index, manifest, config, layer))
docker = dict(manifest, mediaType="application/vnd.docker.distribution.manifest.v2+json")
docker["config"] = dict(manifest["config"], mediaType="application/vnd.docker.container.image.v1+json")
docker["layers"] = [dict(manifest["layers"][0], mediaType="application/vnd.docker.image.rootfs.diff.tar")]
docker_index = json.loads(json.dumps(index))
docker_index["manifests"][0]["mediaType"] = docker["mediaType"]
put("oci_layout", "docker-media-types", layout(docker_index, docker, config, layer))
arm = json.loads(json.dumps(index))
arm["manifests"].append(dict(arm["manifests"][0], platform={"os": "linux", "architecture": "arm64", "variant": "v8"}))
put("oci_layout", "two-platforms", layout(arm, manifest, config, layer))
put("oci_layout", "gzip-layer", layout(index, manifest, config, gzip.compress(layer, mtime=0)))
bad = json.loads(json.dumps(config))
bad["rootfs"]["diff_ids"] = ["@DIFF@", "@DIFF@"]
put("oci_layout", "diffid-count", layout(index, manifest, bad, layer))
put("oci_layout", "not-json", b"{\n--\n[\n--\n\"\n--\n")

for i, ref in enumerate(["nginx", "nginx:1.11.9", "docker.io/library/nginx:stable-alpine", "user/repo:tag",
                         "localhost:5000/a/b:c", "quay.io/org/app@sha256:" + "d" * 64, "sha256:" + "a" * 64,
                         "aaaaaaaaaaaa", "App:UPPER", "a b", "app:1.0", "busybox", "",
                         "127.0.0.1:5000/test/img:1.0", "[::1]:5000/a@sha256:" + "e" * 64,
                         'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
                         'scope="repository:library/nginx:pull"', 'Basic realm="r"',
                         '{"auths":{"docker.io":{"auth":"dXNlcjpwYXNz"}}}']):
    put("reference", "ref%02d" % i, ref)

for i, words in enumerate([
        ["-o", "lowerdir=/a:/b,upperdir=/u,workdir=/w,volatile", "/mnt"],
        ["overlay", "/mnt", "-o", "lowerdir=/a::/d1::/d2,metacopy=on,context=\"a,b\",xino=auto"],
        ["-f", "-d", "-o", "lowerdir=/l\\:colon:/m\\\\:x,uidmapping=0:1000:1:1:100000:65536,squash_to_uid=5", "m"],
        ["-o", "lowerdir=/l,writeback=1,passthrough=0,io_uring,threaded=0,timeout=2.5,max_write=131072", "m"],
        ["--help"], ["-o", "lowerdir=", "m"], ["-o", "unknown=1,allow_other,noatime,lowerdir=/l", "m"]]):
    put("mount_options", "args%02d" % i, "\0".join(words))
