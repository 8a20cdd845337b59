// Offload mechanics: virtio-net headers, TSO splitting and GRO coalescing.
// Pure byte work over caller buffers; no syscalls, no policy.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

// UDP GSO/GRO socket options (linux/udp.h), missing from older libc headers.
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

namespace vxtap {

// Where IP starts in the frames the addon is given: 0 on a TUN, 14 (after
// Ethernet) on a TAP; no entry point takes more.
constexpr size_t kMaxL3Off = 14;
// The most bytes tsoSplit copies in front of each segment (a VXLAN header is 8).
constexpr size_t kMaxPrefix = 256;

// struct virtio_net_hdr (10 bytes, little-endian fields), as TUNSETVNETHDRSZ 10.
constexpr size_t kVnetHdrLen = 10;
constexpr uint8_t kVnetNeedsCsum = 1;
constexpr uint8_t kVnetDataValid = 2;
constexpr uint8_t kGsoNone = 0;
constexpr uint8_t kGsoTcpV4 = 1;
constexpr uint8_t kGsoTcpV6 = 4;
constexpr uint8_t kGsoUdpL4 = 5;  // USO, IPv4 or IPv6

struct VnetHdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
};

VnetHdr ReadVnetHdr(const uint8_t* p);
void WriteVnetHdr(uint8_t* p, const VnetHdr& h);

// One's complement sum of len bytes (RFC 1071), accumulated in memory order:
// the folded result can be stored with memcpy as-is.
uint64_t CsumAdd(const uint8_t* p, size_t len, uint64_t sum);
uint16_t CsumFold(uint64_t sum);

// Completes a partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM): sums
// frame[start, len) with the pseudo-header sum already in the field at
// start+offset, and stores the complement there. False if out of bounds.
bool FinishChecksum(uint8_t* frame, size_t len, size_t start, size_t offset);

// The TCP or UDP header of a frame (IP at l3off: 14 on a TAP, 0 on a TUN):
// IPv4 with any header length and not a fragment, or IPv6 without extension
// headers. end is where the L4 data ends (the IP length: the frame may be
// padded).
struct L4Info {
  uint8_t version;  // 4 or 6
  uint8_t proto;    // 6 TCP, 17 UDP
  uint16_t start;   // the L4 header, from the start of the frame
  uint16_t offset;  // the checksum field, from start (16 TCP, 6 UDP)
  uint16_t hdr_len; // the L4 header's length (8 for UDP)
  uint32_t end;
};
bool FindL4(const uint8_t* frame, size_t len, size_t l3off, L4Info* l4);

// An unfinished TCP or UDP checksum, as a kernel sender leaves it for the
// device to finish (CHECKSUM_PARTIAL): the field holds the folded
// pseudo-header sum, and the data does not check. Veths, bridges and
// virtio-net between VMs on one host carry such packets unfinished, and a
// UDP socket hands their tunnelled payload over as it is; a device drops them
// unless told, with VIRTIO_NET_HDR_F_NEEDS_CSUM, to finish them. The sum over
// the data is only taken when the field equals the pseudo-header sum, which a
// complete checksum does once in 65536; known_invalid skips it where the
// caller has just found that the data does not check.
bool FindPartialCsum(const uint8_t* frame, size_t len, size_t l3off, L4Info* l4, bool known_invalid = false);

// The virtio-net header that has the device finish a partial checksum.
VnetHdr NeedsCsumHdr(const L4Info& l4);

// A super-frame from the wire: a kernel VTEP's TSO or USO packet that
// crossed a veth or bridge whole, so that a UDP socket received it as one
// VXLAN datagram. Fills the GSO header (TCPV4, TCPV6 or UDP_L4; NEEDS_CSUM)
// that has the device take it as such, cut into gso_size-byte payloads, and
// leaves the pseudo-header sum of its whole length in the checksum field.
// Counts a partial checksum in *partial. False if it is not TCP/UDP over IP.
bool SuperFrameHdr(uint8_t* frame, size_t len, size_t l3off, uint16_t gso_size, VnetHdr* h, bool* partial);

// Splits one TSO super-frame (TCP over IPv4 or IPv6) or USO super-frame
// (UDP over either; l3 at frame+l3off, L4 at frame+h.csum_start) into
// segments of at most h.gso_size payload bytes. Segment k is written at
// out + k*stride, where stride = prefix_len + headers + gso_size, after a
// copy of `prefix` (prefix_len bytes). Every segment gets its own IPv4
// ID/length/checksum or IPv6 payload length and a full L4 checksum; TCP
// segments their sequence number and flags (FIN/PSH on the last, CWR on the
// first only), UDP datagrams their length. Returns the number of segments and
// the last segment's length in *last_len; or 0, with *stride 0 if the frame
// cannot be split (not plain TCP/UDP after its IP header, or a segment of
// gso_size would not fit a 16-bit IP length), or with *stride set if the
// segments do not fit out_cap.
size_t TsoSplit(const uint8_t* frame, size_t len, size_t l3off, const VnetHdr& h, const uint8_t* prefix,
                size_t prefix_len, uint8_t* out, size_t out_cap, size_t* stride, size_t* last_len);

// GRO for a device write, without copying payload: gathers a run of
// TCP/IPv4 segments of one flow, or of equal-size UDP/IPv4 datagrams of one
// flow (l3 at l3off), as iovecs: the first segment's headers (copied, then
// patched) followed by every segment's payload where it lies. A run starts
// with Begin; Append returns false when seg does not continue the flow (the
// caller then writes the run and begins a new one).
constexpr size_t kMaxRunSegments = 64;            // as the kernel's UDP GRO, and it bounds the iovecs
constexpr size_t kMaxRunHeaders = 14 + 20 + 60;  // Ethernet, IPv4 without options, TCP with the most options

class GroRun {
 public:
  // Starts a run with seg if it is a coalescible TCP/IPv4 segment (or, with
  // udp_too, UDP/IPv4 datagram) whose checksum is valid or partial (see
  // FindPartialCsum). Returns false otherwise.
  // Headers longer than kMaxRunHeaders (l3off over 14) never start a run.
  bool Begin(const uint8_t* seg, size_t len, size_t l3off, bool udp_too);
  bool Append(const uint8_t* seg, size_t len);
  // Fills the vnet header to write in front (GSO_TCPV4 or GSO_UDP_L4) and
  // iov with the run's pieces (at most kMaxRunSegments + 1); returns how
  // many. A single segment is itself, unpatched (NEEDS_CSUM if its checksum
  // is partial). iov points into this run and into the segments.
  size_t Finish(VnetHdr* h, iovec* iov);
  // Segments of the run whose checksum was partial.
  size_t partials() const { return partials_; }

 private:
  uint8_t hdr_[kMaxRunHeaders];
  const uint8_t* first_ = nullptr;
  size_t first_len_ = 0;
  size_t hdr_len_ = 0;
  size_t l3off_ = 0;
  size_t l4hl_ = 0;
  uint8_t proto_ = 0;
  size_t mss_ = 0;      // payload of the first segment: the run's gso_size
  size_t payload_ = 0;  // bytes of payload in the run
  uint16_t id0_ = 0;
  uint32_t next_seq_ = 0;
  size_t segs_ = 0;
  size_t partials_ = 0;
  bool closed_ = false;
  const uint8_t* pay_[kMaxRunSegments];
  uint16_t pay_len_[kMaxRunSegments];
};

// GRO over a batch: walks frames base[offs[i], +lens[i]), merging runs of
// consecutive coalescible TCP/IPv4 segments of a flow (and, with udp_too,
// UDP/IPv4 datagrams: for devices with USO). Each output (a merged run, or a
// frame as it is) goes to emit(hdr, iov, iovcnt) with the virtio-net header
// to write in front of its pieces, and the input frames it stands for
// (first, count); emit returns false to stop. A frame left
// as it is gets NEEDS_CSUM if its checksum is partial. Frame i with
// gso[i] > 0 (gso may be null) is a super-frame (SuperFrameHdr), written
// whole. Returns how many input frames were emitted; *partials counts those
// with a partial checksum.
template <typename Emit>
uint32_t Coalesce(uint8_t* base, const uint32_t* offs, const uint32_t* lens, const uint16_t* gso, uint32_t n, size_t l3off,
                  bool udp_too, size_t* partials, Emit emit) {
  static const uint8_t kZeroHdr[kVnetHdrLen] = {};
  GroRun run;
  iovec iov[kMaxRunSegments + 1];
  uint8_t hdr[kVnetHdrLen];
  uint32_t i = 0;
  while (i < n) {
    uint8_t* frame = base + offs[i];
    if (gso != nullptr && gso[i] > 0) {
      VnetHdr h;
      bool partial = false;
      iov[0] = {frame, lens[i]};
      const bool whole = SuperFrameHdr(frame, lens[i], l3off, gso[i], &h, &partial);
      if (whole) WriteVnetHdr(hdr, h);
      if (!emit(whole ? hdr : kZeroHdr, iov, 1, i, 1)) break;
      *partials += partial;
      i++;
      continue;
    }
    if (!run.Begin(frame, lens[i], l3off, udp_too)) {
      iov[0] = {frame, lens[i]};
      L4Info l4;
      const bool partial = FindPartialCsum(frame, lens[i], l3off, &l4);
      if (partial) WriteVnetHdr(hdr, NeedsCsumHdr(l4));
      if (!emit(partial ? hdr : kZeroHdr, iov, 1, i, 1)) break;
      *partials += partial;
      i++;
      continue;
    }
    uint32_t j = i + 1;
    while (j < n && run.Append(base + offs[j], lens[j])) j++;
    VnetHdr h;
    const size_t cnt = run.Finish(&h, iov);
    WriteVnetHdr(hdr, h);
    if (!emit(hdr, iov, cnt, i, j - i)) break;
    *partials += run.partials();
    i = j;
  }
  return i;
}

}  // namespace vxtap
