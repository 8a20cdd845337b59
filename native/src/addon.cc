// vxtap native addon: descriptor set-up and batched packet I/O.
// Policy (what to send where, what to drop) lives in TypeScript; this file
// only opens descriptors and reports errors with their errno names.
#include <napi.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netinet/udp.h>

#include <string>
#include <vector>

#include "args.h"
#include "caps.h"
#include "endpoint.h"
#include "errors.h"
#include "offload.h"


namespace vxtap {
namespace {

// Buffer sizes for bursts: the FORCE variants pass rmem_max/wmem_max as root;
// fall back to the capped options for unprivileged callers.
void SizeBuffers(int fd, int rcvbuf, int sndbuf) {
  if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  if (sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) != 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
}

// openTun(name, tap, vnetHdr, multiQueue) -> { fd, name }
Napi::Value OpenTun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Args a(info, "openTun");
  std::string name;
  bool tap, vnet, mq;
  if (!a.String(0, "name", &name, 4096) || !a.Bool(1, "tap", &tap) || !a.Bool(2, "vnetHdr", &vnet) ||
      !a.Bool(3, "multiQueue", &mq)) {
    return env.Undefined();
  }
  if (name.size() >= IFNAMSIZ) return ThrowErrno(env, "device name '" + name + "' is longer than 15 bytes", ENAMETOOLONG);
  int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return ThrowErrno(env, "open /dev/net/tun", errno);
  ifreq ifr{};
  strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  ifr.ifr_flags = static_cast<short>((tap ? IFF_TAP : IFF_TUN) | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0) |
                                     (mq ? IFF_MULTI_QUEUE : 0));
  if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
    int e = errno;
    ::close(fd);
    return ThrowErrno(env, std::string("TUNSETIFF ") + (tap ? "tap " : "tun ") + name, e);
  }
  int hdr_len = static_cast<int>(vxtap::kVnetHdrLen);
  if (vnet && ioctl(fd, TUNSETVNETHDRSZ, &hdr_len) != 0) {
    int e = errno;
    ::close(fd);
    return ThrowErrno(env, "TUNSETVNETHDRSZ " + name, e);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", fd);
  out.Set("name", Napi::String::New(env, ifr.ifr_name));
  return out;
}

// openUdp flags. DF set, EMSGSIZE instead of fragments (IP_PMTUDISC_DO);
// there is no zero-checksum flag: UDP GSO refuses SO_NO_CHECK sockets
// (EINVAL). SO_REUSEPORT lets one socket per queue share a port, the kernel
// spreading datagrams over them by flow.
constexpr uint32_t kUdpDontFragment = 2;
constexpr uint32_t kUdpReusePort = 4;

// openUdp(ipv4, port, rcvbuf, sndbuf, flags = 0) -> fd, bound and non-blocking.
Napi::Value OpenUdp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Args a(info, "openUdp");
  std::string ip;
  uint32_t port, flags;
  int32_t rcvbuf, sndbuf;
  if (!a.String(0, "ipv4", &ip, 64) || !a.Uint(1, "port", &port, 65535) ||
      !a.Int(2, "rcvbuf", &rcvbuf, 0, INT32_MAX) || !a.Int(3, "sndbuf", &sndbuf, 0, INT32_MAX) ||
      !a.UintOr(4, "flags", &flags, 0, kUdpDontFragment | kUdpReusePort)) {
    return env.Undefined();
  }
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, ip.c_str(), &sa.sin_addr) != 1) return ThrowErrno(env, "bad IPv4 address '" + ip + "'", EINVAL);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, "socket(udp)", errno);
  SizeBuffers(fd, rcvbuf, sndbuf);
  int pmtu = IP_PMTUDISC_DO, one = 1;
  if (((flags & kUdpDontFragment) && setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu)) != 0) ||
      ((flags & kUdpReusePort) && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)) {
    int e = errno;
    ::close(fd);
    return ThrowErrno(env, "setsockopt udp " + ip, e);
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
    int e = errno;
    ::close(fd);
    return ThrowErrno(env, "bind udp " + ip + ":" + std::to_string(port), e);
  }
  return Napi::Number::New(env, fd);
}

// openRaw(sndbuf) -> fd: IPPROTO_RAW implies IP_HDRINCL, so the caller writes
// the outer IPv4 and UDP headers, which is how the UDP source port can follow
// the inner flow. The kernel fills the IPv4 checksum and, if zero, the ID.
Napi::Value OpenRaw(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int32_t sndbuf;
  if (!Args(info, "openRaw").Int(0, "sndbuf", &sndbuf, 0, INT32_MAX)) return env.Undefined();
  int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_RAW);
  if (fd < 0) return ThrowErrno(env, "socket(raw)", errno);
  SizeBuffers(fd, 0, sndbuf);
  return Napi::Number::New(env, fd);
}

// socketPair() -> [fd, fd]: a connected AF_UNIX datagram pair, non-blocking.
// Each end reads and writes whole frames as a TAP's descriptor does; the
// warm-up (src/vxlan/warmup.ts) puts one where a TAP would be.
Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
    return ThrowErrno(env, "socketpair", errno);
  }
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, fds[0]);
  out.Set(1u, fds[1]);
  return out;
}

}  // namespace

// setOffload(fd, TUN_F_* flags) -> 0 or errno (EINVAL: a flag is unknown to this kernel).
Napi::Value SetOffload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Args a(info, "setOffload");
  int32_t fd;
  uint32_t flags;
  if (!a.Int(0, "fd", &fd, -1, INT32_MAX) || !a.Uint(1, "flags", &flags)) return env.Undefined();
  return Napi::Number::New(env, ioctl(fd, TUNSETOFFLOAD, static_cast<unsigned>(flags)) == 0 ? 0 : errno);
}

// setUdpOption(fd, 'gro'|'gso', value) -> 0 or errno. UDP_GRO lets the kernel
// hand over coalesced datagrams; setting UDP_SEGMENT to 0 only probes that
// UDP GSO exists (sizes are given per send).
Napi::Value SetUdpOption(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Args a(info, "setUdpOption");
  int32_t fd, v;
  std::string name;
  if (!a.Int(0, "fd", &fd, -1, INT32_MAX) || !a.String(1, "option", &name, 3) ||
      !a.Int(2, "value", &v, INT32_MIN, INT32_MAX)) {
    return env.Undefined();
  }
  if (name != "gro" && name != "gso") {
    a.Fail(1, "option", "must be 'gro' or 'gso'");
    return env.Undefined();
  }
  int opt = name == "gro" ? UDP_GRO : UDP_SEGMENT;
  return Napi::Number::New(env, setsockopt(fd, SOL_UDP, opt, &v, sizeof(v)) == 0 ? 0 : errno);
}

// tsoSplit(src, hdrBack, offs, lens, n, ethernet, prefix|null, out, outOffs, outLens, counts, strides)
// For each TSO or USO super-frame i (virtio-net header hdrBack bytes before
// src[offs[i]]), writes its segments into `out`, each after a copy of
// `prefix`; segment k of frame i lands at outOffs[first + k] with length
// outLens[first + k], where first is the sum of earlier counts. counts[i] is
// 0 for a frame that was not split: with strides[i] 0 it cannot be split (not
// plain TCP/UDP after its IP header, or a segment would not fit an IP length
// field); with strides[i] > 0 (its stride) its segments did not fit what was
// left of `out` or of outOffs. A frame without GSO (gso_type none) is copied
// whole after `prefix`, as one segment, so that a caller can keep the frames
// of a batch in order. Returns the total number of segments.
Napi::Value TsoSplitBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Args a(info, "tsoSplit");
  uint8_t *src, *prefix, *out;
  size_t src_len, prefix_len, out_len, noffs, nlens, nouto, noutl, ncounts, nstrides;
  uint32_t hdr_back, n;
  uint32_t *offs, *lens, *out_offs, *out_lens, *counts, *strides;
  bool ethernet;
  if (!a.Bytes(0, "src", &src, &src_len) || !a.Uint(1, "hdrBack", &hdr_back) ||
      !a.Typed(2, "offs", &offs, &noffs) || !a.Typed(3, "lens", &lens, &nlens) || !a.Uint(4, "n", &n) ||
      !a.Bool(5, "ethernet", &ethernet) || !a.Bytes(6, "prefix", &prefix, &prefix_len, true) ||
      !a.Bytes(7, "out", &out, &out_len) || !a.Typed(8, "outOffs", &out_offs, &nouto) ||
      !a.Typed(9, "outLens", &out_lens, &noutl) || !a.Typed(10, "counts", &counts, &ncounts) ||
      !a.Typed(11, "strides", &strides, &nstrides)) {
    return env.Undefined();
  }
  if (n > noffs || n > nlens || n > ncounts || n > nstrides || noutl < nouto) {
    a.Fail("n exceeds the batch arrays, or outLens is shorter than outOffs");
    return env.Undefined();
  }
  if (hdr_back < vxtap::kVnetHdrLen || out_len > UINT32_MAX || prefix_len > vxtap::kMaxPrefix) {
    a.Fail("hdrBack is under 10, out is 4 GiB or more, or prefix is over 256 bytes");
    return env.Undefined();
  }
  for (uint32_t i = 0; i < n; i++) {
    if (offs[i] < hdr_back || static_cast<size_t>(offs[i]) + lens[i] > src_len) {
      a.Fail("a frame (with its header hdrBack before it) lies outside src");
      return env.Undefined();
    }
  }
  size_t pos = 0, total = 0;
  for (uint32_t i = 0; i < n; i++) {
    counts[i] = 0;
    strides[i] = 0;
    const uint8_t* frame = src + offs[i];
    vxtap::VnetHdr h = vxtap::ReadVnetHdr(frame - hdr_back);
    if (h.gso_type == vxtap::kGsoNone) {  // no super-frame: copied whole, in its place among the others
      const size_t need = prefix_len + lens[i];
      strides[i] = static_cast<uint32_t>(need);
      if (need > out_len - pos || total + 1 > nouto) continue;  // out of room
      memcpy(out + pos, prefix, prefix_len);
      memcpy(out + pos + prefix_len, frame, lens[i]);
      out_offs[total] = static_cast<uint32_t>(pos);
      out_lens[total] = static_cast<uint32_t>(need);
      counts[i] = 1;
      total += 1;
      pos += need;
      continue;
    }
    if (h.gso_type != vxtap::kGsoTcpV4 && h.gso_type != vxtap::kGsoTcpV6 && h.gso_type != vxtap::kGsoUdpL4) continue;
    size_t l3off = 0;
    if (ethernet) l3off = lens[i] >= 14 && frame[12] == 0x81 && frame[13] == 0x00 ? 18 : 14;
    size_t stride = 0, last = 0;
    size_t segs = vxtap::TsoSplit(frame, lens[i], l3off, h, prefix, prefix_len, out + pos, out_len - pos, &stride, &last);
    if (segs == 0 || total + segs > nouto) {
      strides[i] = static_cast<uint32_t>(stride);  // > 0: out of room, not a bad frame
      continue;
    }
    for (size_t k = 0; k < segs; k++) {
      out_offs[total + k] = static_cast<uint32_t>(pos + k * stride);
      out_lens[total + k] = static_cast<uint32_t>(k + 1 < segs ? stride : last);
    }
    counts[i] = static_cast<uint32_t>(segs);
    strides[i] = static_cast<uint32_t>(stride);
    total += segs;
    pos += (segs - 1) * stride + last;
  }
  return Napi::Number::New(env, static_cast<double>(total));
}

// groCoalesce(buf, offs, lens, n, l3off, out, udpToo, hdrs|null) -> outputs:
// the GRO that device writes do (Coalesce), with each output gathered into
// `out` instead of written, so its cost can be measured apart from the
// syscall (bench/). With hdrs, output k's virtio-net header goes to
// hdrs[10k, +10), as far as it fits.
Napi::Value GroCoalesce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Args a(info, "groCoalesce");
  uint8_t *buf, *out, *hdrs;
  size_t buf_len, out_len, hdrs_len, noffs, nlens;
  uint32_t *offs, *lens;
  uint32_t n, l3off;
  bool udp_too;
  if (!a.Bytes(0, "buf", &buf, &buf_len) || !a.Typed(1, "offs", &offs, &noffs) || !a.Typed(2, "lens", &lens, &nlens) ||
      !a.Uint(3, "n", &n) || !a.Uint(4, "l3off", &l3off, vxtap::kMaxL3Off) || !a.Bytes(5, "out", &out, &out_len) ||
      !a.BoolOr(6, "udpToo", &udp_too, false) || !a.Bytes(7, "hdrs", &hdrs, &hdrs_len, true)) {
    return env.Undefined();
  }
  if (n > noffs || n > nlens || out_len < 65535 + l3off || (l3off != 0 && l3off != vxtap::kMaxL3Off)) {
    a.Fail("n exceeds the arrays, out is under 64 KiB, or l3off is neither 0 nor 14");
    return env.Undefined();
  }
  for (uint32_t i = 0; i < n; i++) {
    if (static_cast<size_t>(offs[i]) + lens[i] > buf_len || lens[i] > out_len) {
      a.Fail("a frame lies outside buf, or is longer than out");
      return env.Undefined();
    }
  }
  uint32_t outputs = 0;
  size_t partials = 0;
  vxtap::Coalesce(buf, offs, lens, nullptr, n, l3off, udp_too, &partials,
                  [&](const uint8_t* hdr, const iovec* iov, size_t cnt, uint32_t, uint32_t) {
                    if (hdrs != nullptr && (outputs + 1) * vxtap::kVnetHdrLen <= hdrs_len) {
                      memcpy(hdrs + outputs * vxtap::kVnetHdrLen, hdr, vxtap::kVnetHdrLen);
                    }
                    // Gathered into out as a device write would gather them.
                    uint8_t* o = out;
                    for (size_t k = 0; k < cnt; k++) {
                      o = static_cast<uint8_t*>(memcpy(o, iov[k].iov_base, iov[k].iov_len)) + iov[k].iov_len;
                    }
                    outputs++;
                    return true;
                  });
  return Napi::Number::New(env, outputs);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("openTun", Napi::Function::New<OpenTun>(env, "openTun"));
  exports.Set("openUdp", Napi::Function::New<OpenUdp>(env, "openUdp"));
  exports.Set("openRaw", Napi::Function::New<OpenRaw>(env, "openRaw"));
  exports.Set("socketPair", Napi::Function::New<SocketPair>(env, "socketPair"));
  exports.Set("setOffload", Napi::Function::New<SetOffload>(env, "setOffload"));
  exports.Set("setUdpOption", Napi::Function::New<SetUdpOption>(env, "setUdpOption"));
  exports.Set("tsoSplit", Napi::Function::New<TsoSplitBatch>(env, "tsoSplit"));
  exports.Set("groCoalesce", Napi::Function::New<GroCoalesce>(env, "groCoalesce"));
  exports.Set("Endpoint", Endpoint::Define(env));
  exports.Set("KIND_DEVICE", static_cast<int>(Kind::kDevice));
  exports.Set("KIND_DATAGRAM", static_cast<int>(Kind::kDatagram));
  exports.Set("KIND_RAW", static_cast<int>(Kind::kRaw));
  InitCaps(env, exports);
  return exports;
}

}  // namespace vxtap

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return vxtap::Init(env, exports); }

NODE_API_MODULE(vxtap, InitAddon)
