#include "endpoint.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "offload.h"


namespace vxtap {

namespace {

template <typename T>
T* TypedData(const Napi::Value& v, size_t* count) {
  auto arr = v.As<Napi::TypedArray>();
  *count = arr.ElementLength();
  return reinterpret_cast<T*>(static_cast<uint8_t*>(arr.ArrayBuffer().Data()) + arr.ByteOffset());
}

bool IsAgain(int e) { return e == EAGAIN || e == EWOULDBLOCK; }

}  // namespace

Napi::Function Endpoint::Define(Napi::Env env) {
  return DefineClass(env, "Endpoint",
                     {
                         InstanceMethod<&Endpoint::StartRx>("startRx"),
                         InstanceMethod<&Endpoint::WriteFrames>("writeFrames"),
                         InstanceMethod<&Endpoint::SendDatagrams>("sendDatagrams"),
                         InstanceMethod<&Endpoint::Close>("close"),
                         InstanceAccessor<&Endpoint::GetFd>("fd"),
                         InstanceAccessor<&Endpoint::GetPartialChecksums>("partialChecksums"),
                     });
}

// new Endpoint(fd, kind, vnetHdr = false, l3off = 0): takes ownership of fd.
Endpoint::Endpoint(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Endpoint>(info) {
  fd_ = info[0].As<Napi::Number>().Int32Value();
  kind_ = static_cast<Kind>(info[1].As<Napi::Number>().Int32Value());
  vnet_ = info.Length() > 2 && info[2].ToBoolean().Value();
  l3off_ = info.Length() > 3 ? info[3].As<Napi::Number>().Uint32Value() : 0;
}

Endpoint::~Endpoint() {
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
  auto slab = info[0].As<Napi::Buffer<uint8_t>>();
  slot_size_ = info[1].As<Napi::Number>().Uint32Value();
  headroom_ = info[2].As<Napi::Number>().Uint32Value();
  budget_ = info[3].As<Napi::Number>().Uint32Value();
  size_t nlens = 0, naddrs = 0, nports = 0;
  size_t nsegs = 0;
  lens_ = TypedData<uint32_t>(info[4], &nlens);
  addrs_ = info[5].IsNull() ? nullptr : TypedData<uint32_t>(info[5], &naddrs);
  ports_ = info[6].IsNull() ? nullptr : TypedData<uint16_t>(info[6], &nports);
  segs_ = info[7].IsNull() ? nullptr : TypedData<uint16_t>(info[7], &nsegs);
  slab_ = slab.Data();
  slab_len_ = slab.Length();
  if (budget_ == 0 || headroom_ >= slot_size_ || static_cast<size_t>(slot_size_) * budget_ > slab_len_ ||
      nlens < budget_ || (vnet_ && headroom_ < kVnetHdrLen) ||
      (kind_ == Kind::kDatagram && (naddrs < budget_ || nports < budget_ || (segs_ && nsegs < budget_)))) {
    Napi::RangeError::New(env, "startRx: slab or result arrays are smaller than the batch").ThrowAsJavaScriptException();
    return env.Undefined();
  }

  // Keep everything native code points into alive while the poll runs.
  rx_refs_ = Napi::Persistent(Napi::Object::New(env));
  rx_refs_.Set("slab", info[0]);
  rx_refs_.Set("lens", info[4]);
  rx_refs_.Set("addrs", info[5]);
  rx_refs_.Set("ports", info[6]);
  rx_refs_.Set("segs", info[7]);
  rx_cb_ = Napi::Persistent(info[8].As<Napi::Function>());
  delete rx_ctx_;
  rx_ctx_ = new Napi::AsyncContext(env, "vxtap:rx");

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
  }

  uv_loop_t* loop = nullptr;
  napi_get_uv_event_loop(env, &loop);
  poll_ = new uv_poll_t;
  uv_poll_init(loop, poll_, fd_);
  poll_->data = this;
  uv_poll_start(poll_, UV_READABLE, &Endpoint::OnPoll);
  polling_ = true;
  Ref();  // the wrapper must outlive the poll handle that points at it
  return env.Undefined();
}

// Drains up to one batch. Returns the number of packets read, or -errno if the
// first read failed with something other than EAGAIN, or 0 if nothing was ready.
int Endpoint::Drain() {
  if (kind_ != Kind::kDatagram) return DrainDevice();
  const uint32_t cap = slot_size_ - headroom_;
  for (uint32_t i = 0; i < budget_; i++) {
    rx_msgs_[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
    rx_msgs_[i].msg_hdr.msg_flags = 0;
    if (segs_) rx_msgs_[i].msg_hdr.msg_controllen = CMSG_SPACE(sizeof(int));
  }
  int n;
  do {
    n = recvmmsg(fd_, rx_msgs_.data(), budget_, MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
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

void Endpoint::OnPoll(uv_poll_t* handle, int status, int events) {
  auto* self = static_cast<Endpoint*>(handle->data);
  if (!self->polling_) return;
  int n = status < 0 ? status : self->Drain();
  if (n == 0) return;
  Napi::Env env = self->Env();
  Napi::HandleScope scope(env);
  self->rx_cb_.MakeCallback(self->Value(), {Napi::Number::New(env, n)}, *self->rx_ctx_);
  if (env.IsExceptionPending()) {
    // A throwing batch handler is a programmer error: report it the way Node
    // reports any uncaught exception instead of leaving it pending here.
    napi_fatal_exception(env, env.GetAndClearPendingException().Value());
  }
}

void Endpoint::OnClosed(uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); }

void Endpoint::ReleaseRx() {
  if (!polling_) return;
  polling_ = false;
  uv_poll_stop(poll_);
  uv_close(reinterpret_cast<uv_handle_t*>(poll_), &Endpoint::OnClosed);
  poll_ = nullptr;
  rx_cb_.Reset();
  rx_refs_.Reset();
  Unref();
}

Napi::Value Endpoint::Close(const Napi::CallbackInfo& info) {
  ReleaseRx();
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  return info.Env().Undefined();
}

bool Endpoint::WriteOne(const uint8_t* hdr, const uint8_t* frame, size_t len) {
  iovec piece = {const_cast<uint8_t*>(frame), len};
  return WriteGather(hdr, &piece, 1);
}

bool Endpoint::WriteGather(const uint8_t* hdr, const iovec* pieces, size_t n) {
  iovec iov[kMaxRunSegments + 2];
  size_t k = 0;
  if (hdr) iov[k++] = {const_cast<uint8_t*>(hdr), kVnetHdrLen};
  for (size_t i = 0; i < n; i++) iov[k++] = pieces[i];
  ssize_t r;
  do {
    r = ::writev(fd_, iov, static_cast<int>(k));
  } while (r < 0 && errno == EINTR);
  return r >= 0 || !IsAgain(errno);  // false only when the device queue is full
}

bool Endpoint::WriteSplit(uint8_t* frame, size_t len, uint16_t gso_size, bool* partial) {
  VnetHdr h;
  size_t stride = 0, last = 0;
  if (!SuperFrameHdr(frame, len, l3off_, gso_size, &h, partial)) return WriteOne(nullptr, frame, len);
  const size_t need = (len / gso_size + 1) * (h.hdr_len + gso_size);
  if (split_.size() < need) split_.resize(need);
  const size_t segs = TsoSplit(frame, len, l3off_, h, nullptr, 0, split_.data(), split_.size(), &stride, &last);
  if (segs == 0) return WriteOne(nullptr, frame, len);  // for the device to refuse
  for (size_t k = 0; k < segs; k++) {
    if (!WriteOne(nullptr, split_.data() + k * stride, k + 1 < segs ? stride : last)) return false;
  }
  return true;
}

// writeFrames(buf, offs, lens, n, mode, hdrBack, gso): one write per frame (or
// per coalesced run), all in this call. In kInBuffer mode frame i's header is
// hdrBack bytes before it (the start of its slot, for frames read from a
// vnet device). Frame i with gso[i] > 0 is a super-frame from the wire, to be
// cut into gso[i]-byte payloads: by the device (vnet), or here. Returns how many of the n frames were
// handed to the device; it stops at the first EAGAIN (the queue is full) and
// the caller counts the rest as dropped. Other per-frame errors skip it.
Napi::Value Endpoint::WriteFrames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto buf = info[0].As<Napi::Buffer<uint8_t>>();
  size_t noffs = 0, nlens = 0;
  const uint32_t* offs = TypedData<uint32_t>(info[1], &noffs);
  const uint32_t* lens = TypedData<uint32_t>(info[2], &nlens);
  const uint32_t n = info[3].As<Napi::Number>().Uint32Value();
  const auto mode = static_cast<WriteMode>(info.Length() > 4 ? info[4].As<Napi::Number>().Int32Value() : 0);
  const size_t hdr_back = info.Length() > 5 ? info[5].As<Napi::Number>().Uint32Value() : 0;
  size_t ngso = 0;
  const uint16_t* gso = info.Length() > 6 && !info[6].IsNull() ? TypedData<uint16_t>(info[6], &ngso) : nullptr;
  const int mode_n = static_cast<int>(mode);
  if (n > noffs || n > nlens || (gso && n > ngso) || mode_n < 0 || mode_n > static_cast<int>(WriteMode::kCoalesceUdp) ||
      (mode != WriteMode::kPlain) != vnet_) {
    Napi::RangeError::New(env, "writeFrames: n exceeds the arrays, or the mode does not fit the device").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const size_t lead = mode == WriteMode::kInBuffer ? hdr_back : 0;
  if (mode == WriteMode::kInBuffer && hdr_back < kVnetHdrLen) {
    Napi::RangeError::New(env, "writeFrames: the header must lie at least 10 bytes before the frame").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  for (uint32_t i = 0; i < n; i++) {
    if (offs[i] < lead || static_cast<size_t>(offs[i]) + lens[i] > buf.Length()) {
      Napi::RangeError::New(env, "writeFrames: frame lies outside the buffer").ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  uint8_t* base = buf.Data();
  if (mode == WriteMode::kCoalesce || mode == WriteMode::kCoalesceUdp) {
    size_t partials = 0;
    const uint32_t done = Coalesce(base, offs, lens, gso, n, l3off_, mode == WriteMode::kCoalesceUdp, &partials,
                                   [this](const uint8_t* hdr, const iovec* iov, size_t cnt) {
                                     return fd_ >= 0 && WriteGather(hdr, iov, cnt);
                                   });
    partial_csums_ += static_cast<double>(partials);
    return Napi::Number::New(env, done);
  }
  uint32_t i = 0;
  while (i < n && fd_ >= 0) {
    uint8_t* frame = base + offs[i];
    bool partial = false;
    if (mode == WriteMode::kPlain && gso && gso[i] > 0) {
      if (!WriteSplit(frame, lens[i], gso[i], &partial)) break;
    } else {
      // Without a virtio-net header the device cannot be asked to finish a
      // partial checksum (kInBuffer frames come from a device, finished), so
      // it is finished here.
      L4Info l4;
      partial = mode == WriteMode::kPlain && FindPartialCsum(frame, lens[i], l3off_, &l4) &&
                FinishChecksum(frame, l4.end, l4.start, l4.offset);
      if (!WriteOne(mode == WriteMode::kInBuffer ? frame - hdr_back : nullptr, frame, lens[i])) break;
    }
    partial_csums_ += partial;
    i++;
  }
  return Napi::Number::New(env, i);
}

// sendDatagrams(hdr, hdrStride, hdrLen, payload, offs, lens, addrs, ports, n, status, gso)
// Message i is hdr[i*hdrStride, +hdrLen) followed by payload[offs[i], +lens[i]),
// sent to addrs[i]:ports[i] (host order). hdr may be null (payload only).
// With gso (UDP sockets), a message whose length exceeds gso[i] > 0 goes as
// one UDP GSO send: the kernel cuts it into gso[i]-byte datagrams.
// One sendmmsg() per call unless a message fails; status[i] gets 0 or errno.
Napi::Value Endpoint::SendDatagrams(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bool has_hdr = !info[0].IsNull();
  uint8_t* hdr = nullptr;
  size_t hdr_total = 0;
  if (has_hdr) {
    auto h = info[0].As<Napi::Buffer<uint8_t>>();
    hdr = h.Data();
    hdr_total = h.Length();
  }
  const uint32_t stride = info[1].As<Napi::Number>().Uint32Value();
  const uint32_t hdr_len = info[2].As<Napi::Number>().Uint32Value();
  auto payload = info[3].As<Napi::Buffer<uint8_t>>();
  size_t noffs = 0, nlens = 0, naddrs = 0, nports = 0, nstatus = 0;
  const uint32_t* offs = TypedData<uint32_t>(info[4], &noffs);
  const uint32_t* lens = TypedData<uint32_t>(info[5], &nlens);
  const uint32_t* addrs = TypedData<uint32_t>(info[6], &naddrs);
  const uint16_t* ports = TypedData<uint16_t>(info[7], &nports);
  const uint32_t n = info[8].As<Napi::Number>().Uint32Value();
  int32_t* status = TypedData<int32_t>(info[9], &nstatus);
  size_t ngso = 0;
  const uint16_t* gso = info.Length() > 10 && !info[10].IsNull() ? TypedData<uint16_t>(info[10], &ngso) : nullptr;
  if (n > noffs || n > nlens || n > naddrs || n > nports || n > nstatus || (gso && n > ngso) ||
      (has_hdr && (hdr_len > stride || static_cast<size_t>(stride) * n > hdr_total))) {
    Napi::RangeError::New(env, "sendDatagrams: n exceeds the batch arrays").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (tx_msgs_.size() < n) {
    tx_msgs_.resize(n);
    tx_iov_.resize(static_cast<size_t>(n) * 2);
    tx_names_.resize(n);
    tx_ctrl_.resize(static_cast<size_t>(n) * CMSG_SPACE(sizeof(uint16_t)));
  }
  const int iovs = has_hdr ? 2 : 1;
  for (uint32_t i = 0; i < n; i++) {
    if (static_cast<size_t>(offs[i]) + lens[i] > payload.Length()) {
      Napi::RangeError::New(env, "sendDatagrams: payload lies outside the buffer").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    iovec* iov = &tx_iov_[static_cast<size_t>(i) * 2];
    if (has_hdr) {
      iov[0].iov_base = hdr + static_cast<size_t>(i) * stride;
      iov[0].iov_len = hdr_len;
    }
    iov[iovs - 1].iov_base = payload.Data() + offs[i];
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
