// The capture commands' mistakes, as a user meets them through bin/vxtap:
// one line naming the flag, exit 2, before anything is attached or opened.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'vxtap');

describe('vxtap capture, decode and sniff errors', () => {
  it.each([
    [['capture', '--dev', 'x', '--point', 'tap-rx,nope'], /^vxtap: --point: Invalid option: expected one of "tap-rx"\|/],
    [['capture', '--dev', 'x', '--filter', 'vni 1 or'], /^vxtap: filter: expected 'vni', 'mac', .* got the end of the filter/],
    [['capture', '--dev', 'x', '--snaplen', '262145'], /^vxtap: --snaplen: Too big/],
    [['capture', '--dev', 'x', '-B', '100'], /^vxtap: -B: Too small/],
    [['capture', '--dev', 'x', '-c', '0'], /^vxtap: -c: expected a count of at least 1/],
    [['capture', '--dev', 'x', '-w', '-', '-C', '1'], /^vxtap: -C needs -w FILE/],
    [['capture', '--dev', 'x', '-w', 'f', '-W', '2'], /^vxtap: -W needs -C/],
    [['capture', '--dev', 'x', 'icmp'], /^vxtap: unexpected argument 'icmp' \(a filter goes in --filter "..."\)/],
    [['capture', '--control', '/nonexistent/x.sock'], /^vxtap: no vxtap instance at \/nonexistent\/x.sock \(ENOENT\)/],
    [['decode'], /^vxtap: decode: expected one FILE/],
    [['decode', '/nonexistent.pcap'], /^vxtap: decode: cannot read \/nonexistent.pcap \(ENOENT\)/],
    [['decode', BIN], /^vxtap: decode: .*: not a pcap or pcapng file/],
    [['sniff', '-c', '1'], /^vxtap: missing --iface/],
  ])('%j', (args, message) => {
    const r = spawnSync(BIN, args, { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
