#include "offload.h"

#include <string.h>

namespace vxtap {

namespace {

constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpPsh = 0x08;
constexpr uint8_t kTcpAck = 0x10;
constexpr uint8_t kTcpCwr = 0x80;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;

uint16_t Get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t Get32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 | static_cast<uint32_t>(p[2]) << 8 | p[3];
}
void Put16(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void Put32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}
uint16_t GetLe16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
void PutLe16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}

// Stores a folded sum (memory order) complemented, as checksum fields want.
void StoreCsum(uint8_t* field, uint64_t sum) {
  uint16_t c = static_cast<uint16_t>(~CsumFold(sum));
  memcpy(field, &c, 2);
}

// The TCP or UDP pseudo-header sum for an IPv4 (l3[0]>>4 == 4) or IPv6
// header, in memory order like CsumAdd. Taken as 32-bit words: their one's
// complement sum folds to the same 16 bits as the 16-bit words' (2^16 is 1
// modulo 0xffff), in fewer steps.
uint64_t PseudoSum(const uint8_t* l3, uint32_t l4len, uint8_t proto = kProtoTcp) {
  const bool v4 = (l3[0] >> 4) == 4;
  const uint8_t* addrs = l3 + (v4 ? 12 : 8);
  const size_t words = v4 ? 2 : 8;
  uint64_t sum = 0;
  for (size_t k = 0; k < words; k++) {
    uint32_t w;
    memcpy(&w, addrs + 4 * k, 4);
    sum += w;
  }
  // IPv4: zero, protocol, 16-bit length; IPv6: 32-bit length, zeros, next header.
  uint8_t tail[8] = {0, 0, 0, 0, 0, 0, 0, proto};
  if (v4) {
    tail[1] = proto;
    tail[7] = 0;
    Put16(tail + 2, l4len);
  } else {
    Put32(tail, l4len);
  }
  uint32_t t0, t1;
  memcpy(&t0, tail, 4);
  memcpy(&t1, tail + 4, 4);
  return sum + t0 + t1;
}

void FixIpv4Checksum(uint8_t* ip) {
  ip[10] = ip[11] = 0;
  StoreCsum(ip + 10, CsumAdd(ip, (ip[0] & 0x0f) * 4u, 0));
}

// A TCP or UDP segment over IPv4 that GRO may merge: plain IPv4 header, not
// a fragment, consistent lengths, some payload; TCP with only ACK (and PSH)
// set. Returns the L4 header length (0: not coalescible) and the protocol.
size_t CoalescibleV4(const uint8_t* seg, size_t len, size_t l3off, bool udp_too, uint8_t* proto) {
  if (len < l3off + 28) return 0;
  if (l3off == 14 && Get16(seg + 12) != 0x0800) return 0;
  const uint8_t* ip = seg + l3off;
  if (ip[0] != 0x45 || (Get16(ip + 6) & 0x3fff) != 0) return 0;
  if (Get16(ip + 2) != len - l3off) return 0;  // padded or truncated
  const uint8_t* l4 = ip + 20;
  *proto = ip[9];
  if (ip[9] == kProtoUdp) return udp_too && Get16(l4 + 4) == len - l3off - 20 && len > l3off + 28 ? 8 : 0;
  if (ip[9] != kProtoTcp || len < l3off + 40) return 0;
  size_t thl = (l4[12] >> 4) * 4u;
  if (thl < 20 || l3off + 20 + thl >= len) return 0;
  uint8_t flags = l4[13];
  if (!(flags & kTcpAck) || (flags & ~(kTcpAck | kTcpPsh))) return 0;
  return thl;
}

// True when the TCP/UDP-over-IPv4 segment's checksum verifies; a UDP
// checksum of 0 means the sender sent none (RFC 768).
bool L4V4ChecksumValid(const uint8_t* seg, size_t len, size_t l3off, uint8_t proto) {
  const uint8_t* ip = seg + l3off;
  if (proto == kProtoUdp && ip[26] == 0 && ip[27] == 0) return true;
  const uint32_t l4len = static_cast<uint32_t>(len - l3off - 20);
  return CsumFold(CsumAdd(ip + 20, l4len, PseudoSum(ip, l4len, proto))) == 0xffff;
}

// L4V4ChecksumValid, or else a partial checksum (FindPartialCsum).
bool L4V4ChecksumUsable(const uint8_t* seg, size_t len, size_t l3off, uint8_t proto, bool* partial) {
  *partial = false;
  if (L4V4ChecksumValid(seg, len, l3off, proto)) return true;
  L4Info l4;
  *partial = FindPartialCsum(seg, len, l3off, &l4, true);
  return *partial;
}

}  // namespace

bool FindL4(const uint8_t* frame, size_t len, size_t l3off, L4Info* l4) {
  if (len < l3off + 20) return false;
  const uint8_t* ip = frame + l3off;
  const uint8_t version = ip[0] >> 4;
  if (l3off == 14 && Get16(frame + 12) != (version == 4 ? 0x0800 : 0x86dd)) return false;
  size_t start, end;
  uint8_t proto;
  if (version == 4) {
    const size_t ihl = (ip[0] & 0x0f) * 4u;
    const size_t total = Get16(ip + 2);
    if (ihl < 20 || total < ihl || l3off + total > len || (Get16(ip + 6) & 0x3fff) != 0) return false;
    proto = ip[9];
    start = l3off + ihl;
    end = l3off + total;
  } else if (version == 6) {
    if (len < l3off + 40 || l3off + 40 + Get16(ip + 4) > len) return false;
    proto = ip[6];
    start = l3off + 40;
    end = start + Get16(ip + 4);
  } else {
    return false;
  }
  size_t hdr_len;
  if (proto == kProtoTcp && end >= start + 20) {
    hdr_len = (frame[start + 12] >> 4) * 4u;
    if (hdr_len < 20 || start + hdr_len > end) return false;
  } else if (proto == kProtoUdp && end >= start + 8) {
    hdr_len = 8;
  } else {
    return false;
  }
  *l4 = L4Info{version, proto, static_cast<uint16_t>(start), static_cast<uint16_t>(proto == kProtoTcp ? 16 : 6),
               static_cast<uint16_t>(hdr_len), static_cast<uint32_t>(end)};
  return true;
}

bool FindPartialCsum(const uint8_t* frame, size_t len, size_t l3off, L4Info* l4, bool known_invalid) {
  if (!FindL4(frame, len, l3off, l4)) return false;
  const uint8_t* ip = frame + l3off;
  const uint32_t l4len = l4->end - l4->start;
  const uint64_t pseudo = PseudoSum(ip, l4len, l4->proto);
  uint16_t field;
  memcpy(&field, frame + l4->start + l4->offset, 2);
  // A zero UDP/IPv4 checksum is none (RFC 768); a pseudo-header sum never folds to zero.
  if (field != CsumFold(pseudo)) return false;
  return known_invalid || CsumFold(CsumAdd(frame + l4->start, l4len, pseudo)) != 0xffff;
}

VnetHdr NeedsCsumHdr(const L4Info& l4) { return VnetHdr{kVnetNeedsCsum, kGsoNone, 0, 0, l4.start, l4.offset}; }

bool SuperFrameHdr(uint8_t* frame, size_t len, size_t l3off, uint16_t gso_size, VnetHdr* h, bool* partial) {
  L4Info l4;
  if (!FindL4(frame, len, l3off, &l4)) return false;
  *partial = FindPartialCsum(frame, len, l3off, &l4);
  if (!*partial) {
    // Complete: the device sums each segment again from the pseudo-header
    // sum. A wrong one is left for the device to drop.
    const uint32_t l4len = l4.end - l4.start;
    const uint64_t pseudo = PseudoSum(frame + l3off, l4len, l4.proto);
    if (CsumFold(CsumAdd(frame + l4.start, l4len, pseudo)) != 0xffff) return false;
    const uint16_t folded = CsumFold(pseudo);
    memcpy(frame + l4.start + l4.offset, &folded, 2);
  }
  const uint8_t type = l4.proto == kProtoUdp ? kGsoUdpL4 : l4.version == 4 ? kGsoTcpV4 : kGsoTcpV6;
  *h = VnetHdr{kVnetNeedsCsum, type, static_cast<uint16_t>(l4.start + l4.hdr_len), gso_size, l4.start, l4.offset};
  return true;
}

VnetHdr ReadVnetHdr(const uint8_t* p) {
  return VnetHdr{p[0], p[1], GetLe16(p + 2), GetLe16(p + 4), GetLe16(p + 6), GetLe16(p + 8)};
}

void WriteVnetHdr(uint8_t* p, const VnetHdr& h) {
  p[0] = h.flags;
  p[1] = h.gso_type;
  PutLe16(p + 2, h.hdr_len);
  PutLe16(p + 4, h.gso_size);
  PutLe16(p + 6, h.csum_start);
  PutLe16(p + 8, h.csum_offset);
}

uint64_t CsumAdd(const uint8_t* p, size_t len, uint64_t sum) {
  while (len >= 8) {
    uint32_t a, b;
    memcpy(&a, p, 4);
    memcpy(&b, p + 4, 4);
    sum += static_cast<uint64_t>(a) + b;
    p += 8;
    len -= 8;
  }
  while (len >= 2) {
    uint16_t w;
    memcpy(&w, p, 2);
    sum += w;
    p += 2;
    len -= 2;
  }
  if (len) {
    uint16_t w = 0;  // the odd byte is the first byte of a zero-padded word
    memcpy(&w, p, 1);
    sum += w;
  }
  return sum;
}

uint16_t CsumFold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

bool FinishChecksum(uint8_t* frame, size_t len, size_t start, size_t offset) {
  if (start + offset + 2 > len) return false;
  uint16_t c = static_cast<uint16_t>(~CsumFold(CsumAdd(frame + start, len - start, 0)));
  if (c == 0) c = 0xffff;  // RFC 768: a computed zero is sent as all ones (same value for TCP)
  memcpy(frame + start + offset, &c, 2);
  return true;
}

size_t TsoSplit(const uint8_t* frame, size_t len, size_t l3off, const VnetHdr& h, const uint8_t* prefix,
                size_t prefix_len, uint8_t* out, size_t out_cap, size_t* stride, size_t* last_len) {
  const size_t l4off = h.csum_start;
  const size_t mss = h.gso_size;
  const bool udp = h.gso_type == kGsoUdpL4;
  *stride = 0;
  if (mss == 0 || l3off + 20 > len || l4off + (udp ? 8 : 20) > len) return 0;
  const uint8_t* l3 = frame + l3off;
  // TCP's gso_type names the IP version; USO's does not, so the header does.
  const bool v4 = udp ? (l3[0] >> 4) == 4 : h.gso_type == kGsoTcpV4;
  const uint8_t proto = udp ? kProtoUdp : kProtoTcp;
  if (v4 ? (l3[0] >> 4) != 4 || l4off != l3off + (l3[0] & 0x0f) * 4u || l3[9] != proto
         : (l3[0] >> 4) != 6 || l4off != l3off + 40 || l3[6] != proto) {
    return 0;  // not plain TCP/UDP right after the IP header
  }
  const size_t thl = udp ? 8 : (frame[l4off + 12] >> 4) * 4u;
  const size_t hdrs = l4off + thl;
  if (thl < (udp ? 8u : 20u) || hdrs >= len) return 0;
  const size_t payload = len - hdrs;
  // The largest segment's IPv4 total length (IPv6: payload length) must fit
  // its 16-bit field: a gso_size near 64 KiB with the headers would not.
  const size_t biggest = thl + (payload < mss ? payload : mss);
  if ((v4 ? l4off - l3off : 0) + biggest > 0xffff) return 0;
  const size_t nseg = (payload + mss - 1) / mss;
  *stride = prefix_len + hdrs + mss;
  if (nseg * *stride > out_cap) return 0;
  const uint16_t id0 = Get16(l3 + 4);
  // TCP only: a short UDP frame may end before where these would lie.
  const uint32_t seq0 = udp ? 0 : Get32(frame + l4off + 4);
  const uint8_t flags = udp ? 0 : frame[l4off + 13];
  const size_t csum_at = udp ? 6 : 16;
  for (size_t k = 0; k < nseg; k++) {
    uint8_t* o = out + k * *stride;
    memcpy(o, prefix, prefix_len);
    uint8_t* s = o + prefix_len;
    const size_t plen = k + 1 < nseg ? mss : payload - k * mss;
    memcpy(s, frame, hdrs);
    memcpy(s + hdrs, frame + hdrs + k * mss, plen);
    uint8_t* ip = s + l3off;
    uint8_t* l4 = s + l4off;
    const uint32_t l4len = static_cast<uint32_t>(thl + plen);
    if (v4) {
      Put16(ip + 2, static_cast<uint32_t>(l4off - l3off) + l4len);
      Put16(ip + 4, static_cast<uint16_t>(id0 + k));
      FixIpv4Checksum(ip);
    } else {
      Put16(ip + 4, l4len);
    }
    if (udp) {
      Put16(l4 + 4, l4len);
    } else {
      Put32(l4 + 4, seq0 + static_cast<uint32_t>(k * mss));
      uint8_t f = flags;
      if (k + 1 < nseg) f &= static_cast<uint8_t>(~(kTcpFin | kTcpPsh));
      if (k > 0) f &= static_cast<uint8_t>(~kTcpCwr);
      l4[13] = f;
    }
    l4[csum_at] = l4[csum_at + 1] = 0;
    uint16_t c = static_cast<uint16_t>(~CsumFold(CsumAdd(l4, l4len, PseudoSum(ip, l4len, proto))));
    if (udp && c == 0) c = 0xffff;  // RFC 768: a computed zero goes as all ones
    memcpy(l4 + csum_at, &c, 2);
    if (k + 1 == nseg) *last_len = prefix_len + hdrs + plen;
  }
  return nseg;
}

bool GroRun::Begin(const uint8_t* seg, size_t len, size_t l3off, bool udp_too) {
  if (l3off > kMaxL3Off) return false;  // its headers would not fit hdr_
  l4hl_ = CoalescibleV4(seg, len, l3off, udp_too, &proto_);
  bool partial;
  if (l4hl_ == 0 || !L4V4ChecksumUsable(seg, len, l3off, proto_, &partial)) return false;
  partials_ = partial;
  l3off_ = l3off;
  hdr_len_ = l3off + 20 + l4hl_;
  memcpy(hdr_, seg, hdr_len_);
  first_ = seg;
  first_len_ = len;
  mss_ = len - hdr_len_;
  payload_ = mss_;
  pay_[0] = seg + hdr_len_;
  pay_len_[0] = static_cast<uint16_t>(mss_);
  id0_ = Get16(seg + l3off + 4);
  const bool tcp = proto_ == kProtoTcp;
  next_seq_ = tcp ? Get32(seg + l3off + 24) + static_cast<uint32_t>(mss_) : 0;
  segs_ = 1;
  closed_ = tcp && (seg[l3off + 33] & kTcpPsh) != 0;
  return true;
}

bool GroRun::Append(const uint8_t* seg, size_t len) {
  uint8_t proto = 0;
  if (closed_ || segs_ == kMaxRunSegments || CoalescibleV4(seg, len, l3off_, true, &proto) != l4hl_ || proto != proto_) {
    return false;
  }
  const uint8_t* ip = seg + l3off_;
  const uint8_t* l4 = ip + 20;
  const uint8_t* rip = hdr_ + l3off_;
  const uint8_t* rl4 = rip + 20;
  const size_t plen = len - hdr_len_;
  if (plen > mss_ || hdr_len_ - l3off_ + payload_ + plen > 0xffff) return false;
  // Same link header, same IPv4 TOS/TTL/DF and addresses, same ports; without
  // DF, the next IPv4 ID (a merged run is cut again with consecutive IDs).
  const bool df = (rip[6] & 0x40) != 0;
  if (memcmp(hdr_, seg, l3off_) != 0 || ip[1] != rip[1] || ip[8] != rip[8] || (ip[6] & 0x40) != (rip[6] & 0x40) ||
      (!df && Get16(ip + 4) != static_cast<uint16_t>(id0_ + segs_)) || memcmp(ip + 12, rip + 12, 8) != 0 ||
      memcmp(l4, rl4, 4) != 0) {
    return false;
  }
  // TCP: the next sequence number, the same ACK, window and options (the
  // kernel's tcp_gro_receive flushes when the word holding the flags and the
  // window differs, or the ACK or options do).
  if (proto_ == kProtoTcp && (Get32(l4 + 4) != next_seq_ || memcmp(l4 + 8, rl4 + 8, 4) != 0 ||
                              memcmp(l4 + 14, rl4 + 14, 2) != 0 ||
                              memcmp(l4 + 20, rl4 + 20, l4hl_ - 20) != 0)) {
    return false;
  }
  bool partial;
  if (!L4V4ChecksumUsable(seg, len, l3off_, proto_, &partial)) return false;
  partials_ += partial;
  pay_[segs_] = seg + hdr_len_;
  pay_len_[segs_] = static_cast<uint16_t>(plen);
  segs_++;
  payload_ += plen;
  next_seq_ += static_cast<uint32_t>(plen);
  if (proto_ == kProtoTcp && (l4[13] & kTcpPsh)) {
    hdr_[l3off_ + 20 + 13] |= kTcpPsh;
    closed_ = true;
  }
  if (plen < mss_) closed_ = true;  // a short segment ends the run, as in the kernel
  return true;
}

size_t GroRun::Finish(VnetHdr* h, iovec* iov) {
  const bool udp = proto_ == kProtoUdp;
  const uint16_t csum_offset = udp ? 6 : 16;
  if (segs_ == 1) {
    // A partial checksum is left for the device to finish, as the kernel would.
    *h = partials_ ? VnetHdr{kVnetNeedsCsum, kGsoNone, 0, 0, static_cast<uint16_t>(l3off_ + 20), csum_offset}
                   : VnetHdr{kVnetDataValid, kGsoNone, 0, 0, 0, 0};
    iov[0] = {const_cast<uint8_t*>(first_), first_len_};
    return 1;
  }
  uint8_t* ip = hdr_ + l3off_;
  const uint32_t l4len = static_cast<uint32_t>(l4hl_ + payload_);
  Put16(ip + 2, 20 + l4len);
  FixIpv4Checksum(ip);
  uint8_t* l4 = ip + 20;
  if (udp) Put16(l4 + 4, l4len);
  // CHECKSUM_PARTIAL convention: the field holds the folded pseudo-header sum.
  uint16_t pseudo = CsumFold(PseudoSum(ip, l4len, proto_));
  memcpy(l4 + csum_offset, &pseudo, 2);
  *h = VnetHdr{kVnetNeedsCsum, udp ? kGsoUdpL4 : kGsoTcpV4, static_cast<uint16_t>(hdr_len_), static_cast<uint16_t>(mss_),
               static_cast<uint16_t>(l3off_ + 20), csum_offset};
  iov[0] = {hdr_, hdr_len_};
  for (size_t k = 0; k < segs_; k++) iov[k + 1] = {const_cast<uint8_t*>(pay_[k]), pay_len_[k]};
  return segs_ + 1;
}

}  // namespace vxtap
