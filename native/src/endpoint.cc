#include "endpoint.h"

#include <algorithm>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "args.h"
#include "offload.h"


namespace vxtap {

namespace {

bool IsAgain(int e) { return e == EAGAIN || e == EWOULDBLOCK; }

// Throws an Error with the libuv error name as .code (err is a UV_E* value).
Napi::Value ThrowUv(Napi::Env env, const char* what, int err) {
  Napi::Error e = Napi::Error::New(env, std::string(what) + ": " + uv_strerror(err));
  e.Set("code", Napi::String::New(env, uv_err_name(err)));
  e.Set("errno", Napi::Number::New(env, -err));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

// recvmmsg takes at most UIO_MAXIOV messages; a device batch is no larger.
constexpr uint32_t kMaxBudget = 1024;

// Errors after which a descriptor will never be readable again: the device
// was deleted (a detached TUN/TAP polls POLLERR and reads EBADFD) or the
// descriptor is gone.
bool IsDead(int e) { return e == EBADF || e == EBADFD || e == ENODEV || e == ENXIO; }

// POLLERRs in a row, with no packet read in between, after which the poll is
// given up even though each read reported a transient error: it would spin.
constexpr uint32_t kMaxPollErrors = 64;

}  // namespace

Napi::Function Endpoint::Define(Napi::Env env) {
  return DefineClass(env, "Endpoint",
                     {
                         InstanceMethod<&Endpoint::StartRx>("startRx"),
                         InstanceMethod<&Endpoint::WriteFrames>("writeFrames"),
                         InstanceMethod<&Endpoint::SendDatagrams>("sendDatagrams"),
                         InstanceMethod<&Endpoint::Close>("close"),
                         InstanceMethod<&Endpoint::FlowEnable>("flowEnable"),
                         InstanceMethod<&Endpoint::FlowToWire>("flowToWire"),
                         InstanceMethod<&Endpoint::FlowToDevice>("flowToDevice"),
                         InstanceMethod<&Endpoint::FlowHarvest>("flowHarvest"),
                         InstanceAccessor<&Endpoint::GetFd>("fd"),
                         InstanceAccessor<&Endpoint::GetPartialChecksums>("partialChecksums"),
                     });
}

// new Endpoint(fd, kind, vnetHdr = false, l3off = 0): takes ownership of fd
// (not when it throws).
Endpoint::Endpoint(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Endpoint>(info) {
  const Args a(info, "Endpoint");
  int32_t fd, kind;
  bool vnet;
  uint32_t l3off;
  if (!a.Int(0, "fd", &fd, 0, INT32_MAX) || !a.Int(1, "kind", &kind, 0, static_cast<int32_t>(Kind::kRaw)) ||
      !a.BoolOr(2, "vnetHdr", &vnet, false) || !a.UintOr(3, "l3off", &l3off, 0, kMaxL3Off)) {
    return;
  }
  if (l3off != 0 && l3off != kMaxL3Off) {
    a.Fail(3, "l3off", "must be 0 (TUN) or 14 (TAP)");
    return;
  }
  fd_ = fd;
  kind_ = static_cast<Kind>(kind);
  vnet_ = vnet;
  l3off_ = l3off;
}

Endpoint::~Endpoint() {
  if (hook_env_) napi_remove_env_cleanup_hook(hook_env_, &Endpoint::OnEnvTeardown, this);
  if (fd_ >= 0) ::close(fd_);
  delete rx_ctx_;
}

Napi::Value Endpoint::GetFd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), fd_);
}

Napi::Value Endpoint::GetPartialChecksums(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), partial_csums_);
}

Napi::Value Endpoint::StartRx(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (polling_ || fd_ < 0) {
    Napi::Error::New(env, "startRx: endpoint is already receiving or closed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const Args a(info, "startRx");
  uint8_t* slab;
  size_t slab_len, nlens, naddrs, nports, nsegs;
  uint32_t slot_size, headroom, budget;
  uint32_t *lens, *addrs;
  uint16_t *ports, *segs;
  Napi::Function cb;
  if (!a.Bytes(0, "slab", &slab, &slab_len) || !a.Uint(1, "slotSize", &slot_size) || !a.Uint(2, "headroom", &headroom) ||
      !a.Uint(3, "budget", &budget, kMaxBudget) || !a.Typed(4, "lens", &lens, &nlens) ||
      !a.Typed(5, "addrs", &addrs, &naddrs, true) || !a.Typed(6, "ports", &ports, &nports, true) ||
      !a.Typed(7, "segs", &segs, &nsegs, true) || !a.Function(8, "cb", &cb)) {
    return env.Undefined();
  }
  if (budget == 0 || headroom >= slot_size || static_cast<size_t>(slot_size) * budget > slab_len || nlens < budget ||
      (vnet_ && headroom < kVnetHdrLen) ||
      (kind_ == Kind::kDatagram && (naddrs < budget || nports < budget || (segs && nsegs < budget)))) {
    a.Fail("the slab or the result arrays are smaller than the batch, or the headroom does not fit");
    return env.Undefined();
  }
  slab_ = slab;
  slab_len_ = slab_len;
  slot_size_ = slot_size;
  headroom_ = headroom;
  budget_ = budget;
  lens_ = lens;
  addrs_ = addrs;
  ports_ = ports;
  segs_ = segs;

  // Keep everything native code points into alive while the poll runs.
  rx_refs_ = Napi::Persistent(Napi::Object::New(env));
  rx_refs_.Set("slab", info[0]);
  rx_refs_.Set("lens", info[4]);
  rx_refs_.Set("addrs", info[5]);
  rx_refs_.Set("ports", info[6]);
  rx_refs_.Set("segs", info[7]);
  rx_cb_ = Napi::Persistent(cb);
  // Kept across restarts: a callback may close and restart the poll while it runs in this context.
  if (rx_ctx_ == nullptr) rx_ctx_ = new Napi::AsyncContext(env, "vxtap:rx");

  if (kind_ == Kind::kDatagram) {
    rx_msgs_.assign(budget_, mmsghdr{});
    rx_iov_.assign(budget_, iovec{});
    rx_names_.assign(budget_, sockaddr_in{});
    rx_ctrl_.assign(static_cast<size_t>(budget_) * CMSG_SPACE(sizeof(int)), 0);
    for (uint32_t i = 0; i < budget_; i++) {
      rx_iov_[i].iov_base = slab_ + static_cast<size_t>(i) * slot_size_ + headroom_;
      rx_iov_[i].iov_len = slot_size_ - headroom_;
      rx_msgs_[i].msg_hdr.msg_iov = &rx_iov_[i];
      rx_msgs_[i].msg_hdr.msg_iovlen = 1;
      rx_msgs_[i].msg_hdr.msg_name = &rx_names_[i];
      if (segs_) rx_msgs_[i].msg_hdr.msg_control = &rx_ctrl_[i * CMSG_SPACE(sizeof(int))];
    }
    rx_filled_ = budget_;  // every header gets its lengths before the first read
  }

  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  poll_ = new uv_poll_t;
  int err = uv_poll_init(loop, poll_, fd_);
  if (err != 0) {
    // Not initialised, so not a handle to close.
    delete poll_;
    poll_ = nullptr;
    rx_cb_.Reset();
    rx_refs_.Reset();
    return ThrowUv(env, "startRx: uv_poll_init", err);
  }
  poll_->data = this;
  poll_errors_ = 0;
  polling_ = true;
  // A thread torn down while polling (a worker terminated mid-loop) must not
  // leave the handle open: Node aborts when a loop closes with open handles.
  if (napi_add_env_cleanup_hook(env, &Endpoint::OnEnvTeardown, this) == napi_ok) hook_env_ = env;
  Ref();  // the wrapper must outlive the poll handle that points at it
  err = uv_poll_start(poll_, UV_READABLE, &Endpoint::OnPoll);
  if (err != 0) {
    ReleaseRx();
    return ThrowUv(env, "startRx: uv_poll_start", err);
  }
  return env.Undefined();
}

// Drains up to one batch. Returns the number of packets read, or -errno if the
// first read failed with something other than EAGAIN, or 0 if nothing was ready.
int Endpoint::Drain() {
  if (kind_ != Kind::kDatagram) return DrainDevice();
  const uint32_t cap = slot_size_ - headroom_;
  // recvmmsg rewrites the lengths and flags of the headers it fills, and only
  // of those: the others still hold what was set here before.
  for (uint32_t i = 0; i < rx_filled_; i++) {
    rx_msgs_[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
    rx_msgs_[i].msg_hdr.msg_flags = 0;
    if (segs_) rx_msgs_[i].msg_hdr.msg_controllen = CMSG_SPACE(sizeof(int));
  }
  rx_filled_ = 0;
  int n;
  do {
    n = recvmmsg(fd_, rx_msgs_.data(), budget_, MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
  // One more: the header of a datagram whose copy-out failed part way.
  rx_filled_ = n < 0 ? 1 : std::min(static_cast<uint32_t>(n) + 1, budget_);
  if (n < 0) return IsAgain(errno) ? 0 : -errno;
  for (int i = 0; i < n; i++) {
    mmsghdr& m = rx_msgs_[i];
    // A datagram larger than the slot is reported as cap + 1 so that JS can
    // count it as oversized instead of parsing a cut-off packet.
    lens_[i] = (m.msg_hdr.msg_flags & MSG_TRUNC) ? cap + 1 : m.msg_len;
    addrs_[i] = ntohl(rx_names_[i].sin_addr.s_addr);
    ports_[i] = ntohs(rx_names_[i].sin_port);
    if (!segs_) continue;
    // With UDP_GRO the kernel may hand over several equal-size datagrams of
    // one flow as one buffer, with the segment size in a control message.
    segs_[i] = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&m.msg_hdr); c != nullptr; c = CMSG_NXTHDR(&m.msg_hdr, c)) {
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
        int gso;
        memcpy(&gso, CMSG_DATA(c), sizeof(gso));
        segs_[i] = static_cast<uint16_t>(gso);
      }
    }
  }
  return n;
}

// TAP/TUN: one read() per frame. With a virtio-net header, readv() puts the
// header at the start of the slot and the frame at the slot's headroom, so
// the headroom in between stays free for encapsulation. A partial checksum
// on a frame that is not a TSO super-frame is completed here, so every
// consumer sees a finished frame.
int Endpoint::DrainDevice() {
  const size_t cap = slot_size_ - headroom_;
  uint32_t i = 0;
  while (i < budget_) {
    uint8_t* slot = slab_ + static_cast<size_t>(i) * slot_size_;
    uint8_t* frame = slot + headroom_;
    iovec iov[2] = {{slot, kVnetHdrLen}, {frame, cap}};
    ssize_t r = vnet_ ? ::readv(fd_, iov, 2) : ::read(fd_, frame, cap);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (IsAgain(errno) || i > 0) break;
      return -errno;
    }
    size_t len = static_cast<size_t>(r);
    if (vnet_) {
      len = len > kVnetHdrLen ? len - kVnetHdrLen : 0;
      VnetHdr h = ReadVnetHdr(slot);
      if ((h.flags & kVnetNeedsCsum) && h.gso_type == kGsoNone && FinishChecksum(frame, len, h.csum_start, h.csum_offset)) {
        WriteVnetHdr(slot, VnetHdr{kVnetDataValid, kGsoNone, 0, 0, 0, 0});
      }
    }
    lens_[i++] = static_cast<uint32_t>(len);
  }
  return static_cast<int>(i);
}

// On POLLERR libuv stops the handle and calls back with a status (UV_EBADF)
// that says nothing of the cause. The read that follows reports the cause
// (a UDP socket's pending error, which the read also clears; EBADFD from a
// TAP whose device was deleted), and then the poll is restarted: a socket
// error is transient, as in the kernel. The poll is given up, and the callback
// told so with stopped = true, when the error means the descriptor can never
// be read again, when the restart fails, or after kMaxPollErrors POLLERRs
// without a packet in between. A read error without POLLERR is reported and
// the poll keeps running.
void Endpoint::OnPoll(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<Endpoint*>(handle->data);
  if (!self->polling_) return;
  int n = self->Drain();
  bool stopped = false;
  if (n > 0) self->poll_errors_ = 0;
  if (status < 0) {
    if (n == 0) n = status;  // nothing to read and no error to read: report libuv's
    stopped = (n < 0 && IsDead(-n)) || ++self->poll_errors_ >= kMaxPollErrors ||
              uv_poll_start(self->poll_, UV_READABLE, &Endpoint::OnPoll) != 0;
  } else if (n < 0 && IsDead(-n)) {
    stopped = true;
  }
  if (n == 0) return;
  // The packets the flow cache forwards need no call into JavaScript; the
  // rest of the batch, from the first it did not, goes there as before.
  uint32_t start = 0;
  bool missed = false;
  if (n > 0 && self->flows_ != nullptr) {
    start = self->Forward(static_cast<uint32_t>(n), &missed);
    if (start == static_cast<uint32_t>(n) && !stopped) return;
  }
  Napi::Env env = self->Env();
  Napi::HandleScope scope(env);
  Napi::Object recv = self->Value();
  Napi::Function cb = self->rx_cb_.Value();
  // Released first, so that the callback may start receiving again.
  if (stopped) self->ReleaseRx();
  cb.MakeCallback(recv,
                  {Napi::Number::New(env, n), Napi::Boolean::New(env, stopped), Napi::Number::New(env, start),
                   Napi::Boolean::New(env, missed)},
                  *self->rx_ctx_);
  if (env.IsExceptionPending()) {
    // A throwing batch handler is a programmer error: report it the way Node
    // reports any uncaught exception instead of leaving it pending here.
    napi_fatal_exception(env, env.GetAndClearPendingException().Value());
  }
}

void Endpoint::OnClosed(uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); }

// The environment is going away with the poll still running: close the handle
// so the loop can close, and leave the references to the teardown.
void Endpoint::OnEnvTeardown(void* arg) {
  auto* self = static_cast<Endpoint*>(arg);
  self->hook_env_ = nullptr;
  if (!self->polling_) return;
  self->polling_ = false;
  uv_poll_stop(self->poll_);
  uv_close(reinterpret_cast<uv_handle_t*>(self->poll_), &Endpoint::OnClosed);
  self->poll_ = nullptr;
}

void Endpoint::ReleaseRx() {
  if (!polling_) return;
  polling_ = false;
  if (hook_env_) {
    napi_remove_env_cleanup_hook(hook_env_, &Endpoint::OnEnvTeardown, this);
    hook_env_ = nullptr;
  }
  uv_poll_stop(poll_);
  uv_close(reinterpret_cast<uv_handle_t*>(poll_), &Endpoint::OnClosed);
  poll_ = nullptr;
  rx_cb_.Reset();
  rx_refs_.Reset();
  Unref();
}

Napi::Value Endpoint::Close(const Napi::CallbackInfo& info) {
  ReleaseRx();
  DropFlows();
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  return info.Env().Undefined();
}

int Endpoint::WriteOne(const uint8_t* hdr, const uint8_t* frame, size_t len) {
  iovec piece = {const_cast<uint8_t*>(frame), len};
  return WriteGather(hdr, &piece, 1);
}

int Endpoint::WriteGather(const uint8_t* hdr, const iovec* pieces, size_t n) {
  iovec iov[kMaxRunSegments + 2];
  size_t k = 0;
  if (hdr) iov[k++] = {const_cast<uint8_t*>(hdr), kVnetHdrLen};
  for (size_t i = 0; i < n; i++) iov[k++] = pieces[i];
  ssize_t r;
  do {
    r = ::writev(fd_, iov, static_cast<int>(k));
  } while (r < 0 && errno == EINTR);
  if (r >= 0) return 0;
  return IsAgain(errno) ? EAGAIN : errno;
}

// Without a virtio-net header the device cannot be asked to finish a partial
// checksum (kInBuffer frames come from a device, finished), so it is
// finished here.
int Endpoint::WritePlain(uint8_t* frame, size_t len, bool* partial) {
  L4Info l4;
  *partial = FindPartialCsum(frame, len, l3off_, &l4) && FinishChecksum(frame, l4.end, l4.start, l4.offset);
  return WriteOne(nullptr, frame, len);
}

int Endpoint::WriteSplit(uint8_t* frame, size_t len, uint16_t gso_size, bool* partial) {
  VnetHdr h;
  size_t stride = 0, last = 0;
  // A super-frame holds at most 64 KiB of IP; a longer one (padded) would
  // size split_ by its length, and goes for the device to refuse.
  if (len > l3off_ + 0xffff || !SuperFrameHdr(frame, len, l3off_, gso_size, &h, partial)) {
    return WriteOne(nullptr, frame, len);
  }
  const size_t need = (len / gso_size + 1) * (h.hdr_len + gso_size);
  if (split_.size() < need) split_.resize(need);
  const size_t segs = TsoSplit(frame, len, l3off_, h, nullptr, 0, split_.data(), split_.size(), &stride, &last);
  if (segs == 0) return WriteOne(nullptr, frame, len);  // for the device to refuse
  for (size_t k = 0; k < segs; k++) {
    const int e = WriteOne(nullptr, split_.data() + k * stride, k + 1 < segs ? stride : last);
    if (e != 0) return e;
  }
  return 0;
}

// writeFrames(buf, offs, lens, n, mode, hdrBack, gso, status): one write per
// frame (or per coalesced run), all in this call. In kInBuffer mode frame i's
// header is hdrBack bytes before it (the start of its slot, for frames read
// from a vnet device). Frame i with gso[i] > 0 is a super-frame from the
// wire, to be cut into gso[i]-byte payloads: by the device (vnet), or here.
// status[i] gets 0 if frame i was written, or the errno: EAGAIN for the frame
// that found the device queue full and every frame after it (the write stops
// there), another errno (EIO on a device that is down, EINVAL for a frame the
// device refuses) for a frame lost on its own, after which the rest are still
// written. A coalesced run shares one status. Returns how many were written.
Napi::Value Endpoint::WriteFrames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Args a(info, "writeFrames");
  uint8_t* base;
  size_t buf_len, noffs, nlens, ngso, nstatus;
  uint32_t *offs, *lens;
  uint16_t* gso;
  int32_t* status;
  uint32_t n, mode_n, hdr_back;
  if (!a.Bytes(0, "buf", &base, &buf_len) || !a.Typed(1, "offs", &offs, &noffs) || !a.Typed(2, "lens", &lens, &nlens) ||
      !a.Uint(3, "n", &n) || !a.Uint(4, "mode", &mode_n, static_cast<uint32_t>(WriteMode::kCoalesceUdp)) ||
      !a.Uint(5, "hdrBack", &hdr_back) || !a.Typed(6, "gso", &gso, &ngso, true) ||
      !a.Typed(7, "status", &status, &nstatus)) {
    return env.Undefined();
  }
  const auto mode = static_cast<WriteMode>(mode_n);
  if (n > noffs || n > nlens || n > nstatus || (gso && n > ngso) || (mode != WriteMode::kPlain) != vnet_) {
    a.Fail("n exceeds the arrays, or the mode does not fit the device (Plain for a device without a vnet header)");
    return env.Undefined();
  }
  const size_t lead = mode == WriteMode::kInBuffer ? hdr_back : 0;
  if (mode == WriteMode::kInBuffer && hdr_back < kVnetHdrLen) {
    a.Fail("the header must lie at least 10 bytes before the frame");
    return env.Undefined();
  }
  for (uint32_t i = 0; i < n; i++) {
    if (offs[i] < lead || static_cast<size_t>(offs[i]) + lens[i] > buf_len) {
      a.Fail("a frame (with its header hdrBack before it, in InBuffer mode) lies outside buf");
      return env.Undefined();
    }
  }
  uint32_t done = 0, written = 0;
  if (mode == WriteMode::kCoalesce || mode == WriteMode::kCoalesceUdp) {
    size_t partials = 0;
    done = Coalesce(base, offs, lens, gso, n, l3off_, mode == WriteMode::kCoalesceUdp, &partials,
                    [&](const uint8_t* hdr, const iovec* iov, size_t cnt, uint32_t first, uint32_t count) {
                      const int e = fd_ >= 0 ? WriteGather(hdr, iov, cnt) : EBADF;
                      if (e == EAGAIN) return false;
                      for (uint32_t k = first; k < first + count; k++) status[k] = e;
                      if (e == 0) written += count;
                      return true;
                    });
    partial_csums_ += static_cast<double>(partials);
  } else {
    while (done < n && fd_ >= 0) {
      uint8_t* frame = base + offs[done];
      bool partial = false;
      int e;
      if (mode == WriteMode::kPlain && gso && gso[done] > 0) {
        e = WriteSplit(frame, lens[done], gso[done], &partial);
      } else {
        e = mode == WriteMode::kPlain ? WritePlain(frame, lens[done], &partial) : WriteOne(frame - hdr_back, frame, lens[done]);
      }
      if (e == EAGAIN) break;
      status[done++] = e;
      if (e == 0) {
        written++;
        partial_csums_ += partial;
      }
    }
  }
  for (uint32_t i = done; i < n; i++) status[i] = fd_ >= 0 ? EAGAIN : EBADF;
  return Napi::Number::New(env, written);
}

// sendDatagrams(hdr, hdrStride, hdrLen, payload, offs, lens, addrs, ports, n, status, gso)
// Message i is hdr[i*hdrStride, +hdrLen) followed by payload[offs[i], +lens[i]),
// sent to addrs[i]:ports[i] (host order). hdr may be null (payload only).
// With gso (UDP sockets), a message whose length exceeds gso[i] > 0 goes as
// one UDP GSO send: the kernel cuts it into gso[i]-byte datagrams.
// One sendmmsg() per call unless a message fails; status[i] gets 0 or errno.
Napi::Value Endpoint::SendDatagrams(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Args a(info, "sendDatagrams");
  uint8_t *hdr, *payload;
  size_t hdr_total, payload_len, noffs, nlens, naddrs, nports, nstatus, ngso;
  uint32_t stride, hdr_len, n;
  uint32_t *offs, *lens, *addrs;
  uint16_t *ports, *gso;
  int32_t* status;
  if (!a.Bytes(0, "hdr", &hdr, &hdr_total, true) || !a.Uint(1, "hdrStride", &stride) || !a.Uint(2, "hdrLen", &hdr_len) ||
      !a.Bytes(3, "payload", &payload, &payload_len) || !a.Typed(4, "offs", &offs, &noffs) ||
      !a.Typed(5, "lens", &lens, &nlens) || !a.Typed(6, "addrs", &addrs, &naddrs) ||
      !a.Typed(7, "ports", &ports, &nports) || !a.Uint(8, "n", &n) || !a.Typed(9, "status", &status, &nstatus) ||
      !a.Typed(10, "gso", &gso, &ngso, true)) {
    return env.Undefined();
  }
  const bool has_hdr = !(info[0].IsNull() || info[0].IsUndefined());
  if (n > noffs || n > nlens || n > naddrs || n > nports || n > nstatus || (gso && n > ngso) ||
      (has_hdr && (hdr_len > stride || static_cast<size_t>(stride) * n > hdr_total))) {
    a.Fail("n exceeds the batch arrays, or the headers lie outside hdr");
    return env.Undefined();
  }
  for (uint32_t i = 0; i < n; i++) {
    if (static_cast<size_t>(offs[i]) + lens[i] > payload_len) {
      a.Fail("a payload lies outside its buffer");
      return env.Undefined();
    }
  }
  if (tx_msgs_.size() < n) {
    tx_msgs_.resize(n);
    tx_iov_.resize(static_cast<size_t>(n) * 2);
    tx_names_.resize(n);
    tx_ctrl_.resize(static_cast<size_t>(n) * CMSG_SPACE(sizeof(uint16_t)));
  }
  const int iovs = has_hdr ? 2 : 1;
  for (uint32_t i = 0; i < n; i++) {
    iovec* iov = &tx_iov_[static_cast<size_t>(i) * 2];
    if (has_hdr) {
      iov[0].iov_base = hdr + static_cast<size_t>(i) * stride;
      iov[0].iov_len = hdr_len;
    }
    iov[iovs - 1].iov_base = payload + offs[i];
    iov[iovs - 1].iov_len = lens[i];
    sockaddr_in& sa = tx_names_[i];
    sa.sin_family = AF_INET;
    sa.sin_port = kind_ == Kind::kRaw ? 0 : htons(ports[i]);
    sa.sin_addr.s_addr = htonl(addrs[i]);
    msghdr& m = tx_msgs_[i].msg_hdr;
    m = msghdr{};
    m.msg_name = &sa;
    m.msg_namelen = sizeof(sa);
    m.msg_iov = iov;
    m.msg_iovlen = iovs;
    if (gso && gso[i] > 0 && lens[i] > gso[i]) {
      m.msg_control = &tx_ctrl_[i * CMSG_SPACE(sizeof(uint16_t))];
      m.msg_controllen = CMSG_SPACE(sizeof(uint16_t));
      cmsghdr* c = CMSG_FIRSTHDR(&m);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      memcpy(CMSG_DATA(c), &gso[i], sizeof(uint16_t));
    }
    status[i] = 0;
  }
  uint32_t done = 0, sent = 0;
  while (done < n && fd_ >= 0) {
    int r = sendmmsg(fd_, &tx_msgs_[done], n - done, MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      if (IsAgain(e) || e == ENOBUFS) {
        // The socket buffer is full: everything left in the batch would fail too.
        for (; done < n; done++) status[done] = e;
        break;
      }
      status[done++] = e;  // this message is bad (e.g. EMSGSIZE); try the rest
      continue;
    }
    done += static_cast<uint32_t>(r);
    sent += static_cast<uint32_t>(r);
  }
  return Napi::Number::New(env, sent);
}

}  // namespace vxtap
