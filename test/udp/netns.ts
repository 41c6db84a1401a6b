/**
 * A real network link with loss, for tests: two network namespaces joined by a veth pair, with
 * nftables rules in the server's namespace that drop a share of the packets each way (this kernel
 * has no netem). Everything is named after the test process's PID and removed by `close()`, and
 * by an exit hook if the test dies first. Needs root, `ip` (iproute2) and `nft` (nftables).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { nodeEntry } from '../node-entry.ts';

export interface LossyLink {
  /** Namespace of the server and its address on the link. */
  readonly serverNs: string;
  readonly serverAddress: string;
  /** Namespace of the client and its address on the link. */
  readonly clientNs: string;
  readonly clientAddress: string;
  /** Drop `percent` % of the packets in each direction (0 removes the rule). */
  setLoss(percent: number): void;
  /** Drop every UDP datagram to the server (a firewall that lets only TCP through), or stop doing so. */
  blockUdp(blocked: boolean): void;
  /** Start the program `script` (see ../node-entry.ts) inside a namespace; stopped (by PID) by `close()`. */
  spawnNode(ns: string, script: string, args: readonly string[], env?: NodeJS.ProcessEnv): ChildProcess;
  /**
   * Stop the children (their stdin is closed so that they can clean up; SIGKILL by PID after 5 s),
   * then delete both namespaces (and with them the veth pair and the rules).
   */
  close(): Promise<void>;
}

function run(cmd: string, args: readonly string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], ...(input !== undefined && { input }) });
}

/** Why a lossy link cannot be made here, or undefined when it can (checked by making a namespace). */
export function lossyLinkUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  for (const tool of [
    ['ip', '-V'],
    ['nft', '--version'],
  ] as const) {
    try {
      run(tool[0], [tool[1]]);
    } catch {
      return `${tool[0]} is not installed (apt-get install ${tool[0] === 'ip' ? 'iproute2' : 'nftables'})`;
    }
  }
  const probe = `fsu-check-${process.pid}`;
  try {
    run('ip', ['netns', 'add', probe]);
    run('ip', ['netns', 'exec', probe, 'nft', 'list', 'ruleset']);
  } catch (err) {
    return `cannot create a network namespace with nftables here: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`;
  } finally {
    try {
      run('ip', ['netns', 'del', probe]);
    } catch {
      /* was not created */
    }
  }
  return undefined;
}

export function createLossyLink(): LossyLink {
  const id = process.pid % 100000;
  const serverNs = `fsu-${id}-srv`;
  const clientNs = `fsu-${id}-cli`;
  // interface names are at most 15 characters
  const serverIf = `fsu${id}s`;
  const clientIf = `fsu${id}c`;
  const serverAddress = '10.77.0.1';
  const clientAddress = '10.77.0.2';
  const children = new Set<ChildProcess>();
  let closed = false;
  const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;
  const closeGracefully = async () => {
    const exits = [...children].filter(running).map((child) => {
      child.stdin?.end();
      return new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 5000);
        child.once('exit', () => (clearTimeout(timer), resolve()));
      });
    });
    await Promise.all(exits);
    close();
  };
  /** Synchronous, for the exit hook too. */
  const close = () => {
    if (closed) return;
    closed = true;
    for (const child of children) {
      if (running(child) && child.pid !== undefined) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
    for (const ns of [serverNs, clientNs]) {
      try {
        run('ip', ['netns', 'del', ns]);
      } catch {
        /* not created */
      }
    }
    process.off('exit', close);
  };
  process.on('exit', close);
  try {
    run('ip', ['netns', 'add', serverNs]);
    run('ip', ['netns', 'add', clientNs]);
    run('ip', ['link', 'add', serverIf, 'netns', serverNs, 'type', 'veth', 'peer', 'name', clientIf, 'netns', clientNs]);
    for (const [ns, dev, address] of [
      [serverNs, serverIf, serverAddress],
      [clientNs, clientIf, clientAddress],
    ] as const) {
      run('ip', ['-n', ns, 'addr', 'add', `${address}/24`, 'dev', dev]);
      run('ip', ['-n', ns, 'link', 'set', dev, 'up']);
      run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
  } catch (err) {
    close();
    throw new Error(`cannot set up the namespaced link: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`, {
      cause: err,
    });
  }
  let loss = 0;
  let udpBlocked = false;
  const apply = () => {
    const rules = [
      loss > 0 ? `add rule inet fsu in iifname "${serverIf}" numgen random mod 100 < ${loss} drop` : '',
      loss > 0 ? `add rule inet fsu out oifname "${serverIf}" numgen random mod 100 < ${loss} drop` : '',
      udpBlocked ? `add rule inet fsu in iifname "${serverIf}" meta l4proto udp drop` : '',
    ].filter(Boolean);
    // the table is replaced as a whole, atomically (one nft transaction)
    const script = [
      'table inet fsu {}',
      'delete table inet fsu',
      'table inet fsu {',
      '  chain in { type filter hook input priority 0; policy accept; }',
      '  chain out { type filter hook output priority 0; policy accept; }',
      '}',
      ...rules,
    ].join('\n');
    run('ip', ['netns', 'exec', serverNs, 'nft', '-f', '-'], `${script}\n`);
  };
  return {
    serverNs,
    serverAddress,
    clientNs,
    clientAddress,
    setLoss(percent) {
      if (!Number.isInteger(percent) || percent < 0 || percent > 100) throw new RangeError(`loss must be 0-100 %, got ${percent}`);
      loss = percent;
      apply();
    },
    blockUdp(blocked) {
      udpBlocked = blocked;
      apply();
    },
    spawnNode(ns, script, args, env = {}) {
      const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...nodeEntry(script), ...args], {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, ...env },
      });
      children.add(child);
      child.once('exit', () => children.delete(child));
      return child;
    },
    close: closeGracefully,
  };
}
