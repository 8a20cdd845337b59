// `vxtap sniff -i IFACE`: live capture on any interface through libpcap (the
// `cap` binding), printing the decoder's line per packet. The filter is
// vxtap's own language (filter.ts), so it sees inside VXLAN and the udp
// overlay; libpcap gets no BPF program and the filter runs in JS.
//
// `cap` is an optional dependency: it builds against libpcap's headers, and
// npm skips it where they are missing, so only sniff needs them.
//
// `cap` does not pass libpcap's timestamps through, so a packet is stamped
// when JS receives it: a delay of a poll cycle at most.
import { createRequire } from 'node:module';
import { VxtapError } from '../core/errors.js';
import { formatTime, summarize } from './decode.js';
import { compileFilter } from './filter.js';
import { LINKTYPE_ETHERNET, LINKTYPE_RAW } from './pcapng.js';

interface CapHandle {
  open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
  on(event: 'packet', cb: (nbytes: number, truncated: boolean) => void): void;
  close(): void;
}

/** libpcap's kernel buffer: enough for bursts of a busy underlay. */
const PCAP_BUFFER = 16 << 20;
const LINKTYPES: Record<string, number> = { ETHERNET: LINKTYPE_ETHERNET, RAW: LINKTYPE_RAW };

export interface SniffRun {
  iface: string;
  filter: string;
  count?: number;
}

/** The `cap` binding, or what to install when npm could not build it. */
function loadCap(): new () => CapHandle {
  try {
    return (createRequire(import.meta.url)('cap') as { Cap: new () => CapHandle }).Cap;
  } catch {
    throw new VxtapError('E_MISSING', 'sniff: libpcap\'s binding (the optional npm package cap) is not installed: '
      + 'install libpcap\'s headers (Debian: apt-get install libpcap-dev), then run npm install cap (or npm install again) in vxtap\'s folder');
  }
}

/** Prints packets until `count` or SIGINT; resolves with the number printed. */
export function runSniff(run: SniffRun): Promise<number> {
  const Cap = loadCap();
  const cap = new Cap();
  const buf = Buffer.alloc(65535);
  let link: string;
  try {
    link = cap.open(run.iface, '', PCAP_BUFFER, buf);
  } catch (e) {
    const message = (e as Error).message;
    // libpcap's packet socket: the one capability sniff needs (README: Privileges).
    if (/Operation not permitted|permission/i.test(message)) {
      throw new VxtapError('E_PERMISSION', `-i ${run.iface}: ${message}: sniffing needs CAP_NET_RAW: run it as root, or grant CAP_NET_RAW (setpriv --inh-caps +net_raw --ambient-caps +net_raw)`);
    }
    throw new VxtapError('E_DEVICE', `-i ${run.iface}: ${message}`);
  }
  const linktype = LINKTYPES[link];
  if (linktype === undefined) {
    cap.close();
    throw new VxtapError('E_DEVICE', `-i ${run.iface}: link type ${link} is not supported (Ethernet or raw IP only)`);
  }
  const match = compileFilter(run.filter, { linktype });
  process.stderr.write(`vxtap: sniffing on ${run.iface}, link type ${link}\n`);
  return new Promise((resolve) => {
    let n = 0;
    const stop = () => {
      cap.close();
      process.off('SIGINT', stop);
      resolve(n);
    };
    process.on('SIGINT', stop);
    cap.on('packet', (nbytes) => {
      if (n === run.count || !match(buf, 0, nbytes, -1)) return;
      const t = performance.timeOrigin + performance.now();
      const sec = Math.floor(t / 1000);
      const line = `${formatTime(sec, Math.floor((t - sec * 1000) * 1e6), false)} ${summarize(buf.subarray(0, nbytes), nbytes, linktype)}`;
      process.stdout.write(line + '\n');
      if (++n === run.count) stop();
    });
  });
}
