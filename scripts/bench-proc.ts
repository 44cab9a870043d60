/**
 * What the benchmark reads from /proc about the processes it measures: CPU time, scheduler
 * wake-ups and RSS. Linux only; the figures are per process, all threads summed.
 */
import { readdirSync, readFileSync } from "node:fs";

const TICKS_PER_SECOND = 100;

export interface ProcSample {
  /** User + system CPU seconds used so far (all threads). */
  cpuSeconds: number;
  /**
   * Times a thread went to sleep and was woken again so far, all threads summed (voluntary
   * context switches): unlike the count of times on a CPU, preemption by other work on a busy
   * machine does not inflate it.
   */
  wakeups: Map<string, number>;
}

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** undefined once the process is gone. */
export function sampleProcess(pid: number): ProcSample | undefined {
  const stat = readOr(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  // Fields after the parenthesised command name; utime and stime are the 14th and 15th fields.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  const wakeups = new Map<string, number>();
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {}
  for (const task of tasks) wakeups.set(task, Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(readOr(`/proc/${pid}/task/${task}/status`) ?? "")?.[1] ?? 0));
  return { cpuSeconds, wakeups };
}

/** Wake-ups between two samples of one process: per thread, so a thread that exits in between takes none of the others' away. */
export function wakeupsBetween(before: ProcSample, after: ProcSample): number {
  let total = 0;
  for (const [task, count] of after.wakeups) total += count - (before.wakeups.get(task) ?? 0);
  return total;
}

export function rssMb(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readOr(`/proc/${pid}/status`) ?? "")?.[1] ?? 0);
  return kb / 1024;
}

/** CPU seconds used by `pids` between two snapshots; a pid missing from `before` started in between and counts whole. */
export function cpuBetween(before: Map<number, ProcSample>, after: Map<number, ProcSample>): number {
  let total = 0;
  for (const [pid, sample] of after) total += sample.cpuSeconds - (before.get(pid)?.cpuSeconds ?? 0);
  return total;
}

export function snapshot(pids: Iterable<number>): Map<number, ProcSample> {
  const samples = new Map<number, ProcSample>();
  for (const pid of pids) {
    const sample = sampleProcess(pid);
    if (sample) samples.set(pid, sample);
  }
  return samples;
}

/** Peak RSS of a process, sampled every `everyMs` until stopped. */
export function watchPeakRss(pid: number, everyMs = 250): { stop(): number } {
  let peak = rssMb(pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, rssMb(pid));
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, rssMb(pid));
    },
  };
}
