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
  std::string name = info[0].As<Napi::String>().Utf8Value();
  const bool tap = info[1].As<Napi::Boolean>().Value();
  const bool vnet = info[2].As<Napi::Boolean>().Value();
  const bool mq = info[3].As<Napi::Boolean>().Value();
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
  std::string ip = info[0].As<Napi::String>().Utf8Value();
  const uint32_t port = info[1].As<Napi::Number>().Uint32Value();
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, ip.c_str(), &sa.sin_addr) != 1) return ThrowErrno(env, "bad IPv4 address '" + ip + "'", EINVAL);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, "socket(udp)", errno);
  SizeBuffers(fd, info[2].As<Napi::Number>().Int32Value(), info[3].As<Napi::Number>().Int32Value());
  const uint32_t flags = info.Length() > 4 ? info[4].As<Napi::Number>().Uint32Value() : 0;
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
  int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_RAW);
  if (fd < 0) return ThrowErrno(env, "socket(raw)", errno);
  SizeBuffers(fd, 0, info[0].As<Napi::Number>().Int32Value());
  return Napi::Number::New(env, fd);
}

}  // namespace

// setOffload(fd, TUN_F_* flags) -> 0 or errno (EINVAL: a flag is unknown to this kernel).
Napi::Value SetOffload(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  unsigned flags = info[1].As<Napi::Number>().Uint32Value();
  return Napi::Number::New(info.Env(), ioctl(fd, TUNSETOFFLOAD, flags) == 0 ? 0 : errno);
}

// setUdpOption(fd, 'gro'|'gso', value) -> 0 or errno. UDP_GRO lets the kernel
// hand over coalesced datagrams; setting UDP_SEGMENT to 0 only probes that
// UDP GSO exists (sizes are given per send).
Napi::Value SetUdpOption(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  std::string name = info[1].As<Napi::String>().Utf8Value();
  int v = info[2].As<Napi::Number>().Int32Value();
  int opt = name == "gro" ? UDP_GRO : UDP_SEGMENT;
  return Napi::Number::New(info.Env(), setsockopt(fd, SOL_UDP, opt, &v, sizeof(v)) == 0 ? 0 : errno);
}

template <typename T>
T* Typed(const Napi::Value& v, size_t* count) {
  auto arr = v.As<Napi::TypedArray>();
  *count = arr.ElementLength();
  return reinterpret_cast<T*>(static_cast<uint8_t*>(arr.ArrayBuffer().Data()) + arr.ByteOffset());
}

// tsoSplit(src, hdrBack, offs, lens, n, ethernet, prefix|null, out, outOffs, outLens, counts, strides)
// For each TSO or USO super-frame i (virtio-net header hdrBack bytes before
// src[offs[i]]), writes its segments into `out`, each after a copy of
// `prefix`; segment k of frame i lands at outOffs[first + k] with length
// outLens[first + k], where first is the sum of earlier counts. counts[i] is
// 0 for a frame that cannot be split; strides[i] is its segment stride.
// Returns the total number of segments.
Napi::Value TsoSplitBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto src = info[0].As<Napi::Buffer<uint8_t>>();
  const size_t hdr_back = info[1].As<Napi::Number>().Uint32Value();
  size_t noffs, nlens, nouto, noutl, ncounts, nstrides;
  const uint32_t* offs = Typed<uint32_t>(info[2], &noffs);
  const uint32_t* lens = Typed<uint32_t>(info[3], &nlens);
  const uint32_t n = info[4].As<Napi::Number>().Uint32Value();
  const bool ethernet = info[5].As<Napi::Boolean>().Value();
  const uint8_t* prefix = nullptr;
  size_t prefix_len = 0;
  if (!info[6].IsNull()) {
    auto p = info[6].As<Napi::Buffer<uint8_t>>();
    prefix = p.Data();
    prefix_len = p.Length();
  }
  auto out = info[7].As<Napi::Buffer<uint8_t>>();
  uint32_t* out_offs = Typed<uint32_t>(info[8], &nouto);
  uint32_t* out_lens = Typed<uint32_t>(info[9], &noutl);
  uint32_t* counts = Typed<uint32_t>(info[10], &ncounts);
  uint32_t* strides = Typed<uint32_t>(info[11], &nstrides);
  if (n > noffs || n > nlens || n > ncounts || n > nstrides || noutl < nouto) {
    Napi::RangeError::New(env, "tsoSplit: n exceeds the batch arrays").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  size_t pos = 0, total = 0;
  for (uint32_t i = 0; i < n; i++) {
    counts[i] = 0;
    strides[i] = 0;
    if (offs[i] < hdr_back || hdr_back < vxtap::kVnetHdrLen || static_cast<size_t>(offs[i]) + lens[i] > src.Length()) {
      Napi::RangeError::New(env, "tsoSplit: frame lies outside the buffer").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    const uint8_t* frame = src.Data() + offs[i];
    vxtap::VnetHdr h = vxtap::ReadVnetHdr(frame - hdr_back);
    if (h.gso_type != vxtap::kGsoTcpV4 && h.gso_type != vxtap::kGsoTcpV6 && h.gso_type != vxtap::kGsoUdpL4) continue;
    size_t l3off = 0;
    if (ethernet) l3off = lens[i] >= 14 && frame[12] == 0x81 && frame[13] == 0x00 ? 18 : 14;
    size_t stride = 0, last = 0;
    size_t segs = vxtap::TsoSplit(frame, lens[i], l3off, h, prefix, prefix_len, out.Data() + pos, out.Length() - pos,
                                  &stride, &last);
    if (segs == 0 || total + segs > nouto) continue;
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
  auto buf = info[0].As<Napi::Buffer<uint8_t>>();
  size_t noffs, nlens;
  const uint32_t* offs = Typed<uint32_t>(info[1], &noffs);
  const uint32_t* lens = Typed<uint32_t>(info[2], &nlens);
  const uint32_t n = info[3].As<Napi::Number>().Uint32Value();
  const size_t l3off = info[4].As<Napi::Number>().Uint32Value();
  auto out = info[5].As<Napi::Buffer<uint8_t>>();
  const bool udp_too = info.Length() > 6 && info[6].As<Napi::Boolean>().Value();
  uint8_t* hdrs = nullptr;
  size_t hdrs_len = 0;
  if (info.Length() > 7 && !info[7].IsNull()) {
    auto h = info[7].As<Napi::Buffer<uint8_t>>();
    hdrs = h.Data();
    hdrs_len = h.Length();
  }
  if (n > noffs || n > nlens || out.Length() < 65535 + l3off) {
    Napi::RangeError::New(env, "groCoalesce: n exceeds the arrays, or out is under 64 KiB").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  for (uint32_t i = 0; i < n; i++) {
    if (static_cast<size_t>(offs[i]) + lens[i] > buf.Length()) {
      Napi::RangeError::New(env, "groCoalesce: frame lies outside the buffer").ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  uint32_t outputs = 0;
  size_t partials = 0;
  vxtap::Coalesce(buf.Data(), offs, lens, nullptr, n, l3off, udp_too, &partials, [&](const uint8_t* hdr, const iovec* iov, size_t cnt) {
    if (hdrs != nullptr && (outputs + 1) * vxtap::kVnetHdrLen <= hdrs_len) {
      memcpy(hdrs + outputs * vxtap::kVnetHdrLen, hdr, vxtap::kVnetHdrLen);
    }
    // Gathered into out as a device write would gather them.
    uint8_t* o = out.Data();
    for (size_t k = 0; k < cnt; k++) o = static_cast<uint8_t*>(memcpy(o, iov[k].iov_base, iov[k].iov_len)) + iov[k].iov_len;
    outputs++;
    return true;
  });
  return Napi::Number::New(env, outputs);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("openTun", Napi::Function::New<OpenTun>(env, "openTun"));
  exports.Set("openUdp", Napi::Function::New<OpenUdp>(env, "openUdp"));
  exports.Set("openRaw", Napi::Function::New<OpenRaw>(env, "openRaw"));
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
