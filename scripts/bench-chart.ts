/**
 * The benchmark's chart: end-to-end throughput (with its concurrency bound) and p99 latency
 * against the payments in flight. A plain SVG, so BENCHMARKS.md shows it without a plotting library.
 */
export interface ChartPoint {
  inFlight: number;
  perSecond: number;
  bound: number;
  p99Ms: number;
}

const W = 640;
const H = 360;
const PAD = { left: 64, right: 64, top: 40, bottom: 48 };

function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const step = 10 ** Math.floor(Math.log10(value));
  return Math.ceil(value / step) * step;
}

/** The opening of a chart: the canvas, its title, and the grid with the payments/s scale on the left (and `right`'s labels). */
function frame(title: string, rateMax: number, right: (tick: number) => string = () => ""): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${title}</text>`,
    ...[0, 0.25, 0.5, 0.75, 1].map((t) => {
      const y = H - PAD.bottom - t * (H - PAD.top - PAD.bottom);
      return `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y}" y2="${y}" stroke="#ddd"/><text x="${PAD.left - 6}" y="${y + 4}" text-anchor="end" fill="#1f5fbf">${Math.round(t * rateMax)}</text>${right(t)}`;
    }),
  ];
}

export function renderChart(points: ChartPoint[], title: string): string {
  const xs = points.map((p) => p.inFlight);
  const xMin = Math.log2(Math.min(...xs));
  const xMax = Math.log2(Math.max(...xs));
  const rateMax = niceMax(Math.max(...points.flatMap((p) => [p.perSecond, Number.isFinite(p.bound) ? p.bound : 0])));
  const p99Max = niceMax(Math.max(...points.map((p) => p.p99Ms)));
  const x = (inFlight: number) => PAD.left + ((Math.log2(inFlight) - xMin) / Math.max(1e-9, xMax - xMin)) * (W - PAD.left - PAD.right);
  const yRate = (v: number) => H - PAD.bottom - (v / rateMax) * (H - PAD.top - PAD.bottom);
  const yP99 = (v: number) => H - PAD.bottom - (v / p99Max) * (H - PAD.top - PAD.bottom);
  const line = (values: [number, number][], colour: string, dash = "") =>
    `<polyline fill="none" stroke="${colour}" stroke-width="2" ${dash ? `stroke-dasharray="${dash}"` : ""} points="${values.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(" ")}"/>` +
    values.map(([a, b]) => `<circle cx="${a.toFixed(1)}" cy="${b.toFixed(1)}" r="3" fill="${colour}"/>`).join("");
  const parts = [
    ...frame(title, rateMax, (t) => `<text x="${W - PAD.right + 6}" y="${yRate(t * rateMax) + 4}" fill="#c0392b">${Math.round(t * p99Max)}</text>`),
    ...xs.map((v) => `<text x="${x(v)}" y="${H - PAD.bottom + 16}" text-anchor="middle">${v}</text>`),
    `<text x="${W / 2}" y="${H - 10}" text-anchor="middle">payments in flight (worker concurrency)</text>`,
    `<text transform="translate(16 ${H / 2}) rotate(-90)" text-anchor="middle" fill="#1f5fbf">payments/s</text>`,
    `<text transform="translate(${W - 14} ${H / 2}) rotate(90)" text-anchor="middle" fill="#c0392b">p99 POST→final, ms</text>`,
    line(points.filter((p) => Number.isFinite(p.bound)).map((p) => [x(p.inFlight), yRate(p.bound)]), "#888", "4 3"),
    line(points.map((p) => [x(p.inFlight), yRate(p.perSecond)]), "#1f5fbf"),
    line(points.map((p) => [x(p.inFlight), yP99(p.p99Ms)]), "#c0392b"),
    `<g transform="translate(${PAD.left + 10} ${PAD.top + 4})"><line x1="0" x2="18" y1="0" y2="0" stroke="#1f5fbf" stroke-width="2"/><text x="24" y="4">payments/s</text>` +
      `<line x1="0" x2="18" y1="16" y2="16" stroke="#888" stroke-width="2" stroke-dasharray="4 3"/><text x="24" y="20">bound (in flight ÷ gateway latency)</text>` +
      `<line x1="0" x2="18" y1="32" y2="32" stroke="#c0392b" stroke-width="2"/><text x="24" y="36">p99 POST→final</text></g>`,
    "</svg>",
  ];
  return `${parts.join("\n")}\n`;
}

export interface ScalePoint {
  workers: number;
  perSecond: number;
  /** N × one worker's bound. */
  bound: number;
}

/**
 * The scale-out chart (issue #32): for 1, 2, 3… workers, the measured drain rate as a bar, the
 * ideal N × one worker's bound as a dashed outline around it, and the ratio above each bar.
 */
const SCALE_TARGET = 0.9;

export function renderScaleChart(points: ScalePoint[], title: string): string {
  const rateMax = niceMax(Math.max(...points.flatMap((p) => [p.perSecond, p.bound])));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(1, points.length);
  const barW = Math.min(80, slot * 0.5);
  const y = (v: number) => H - PAD.bottom - (v / rateMax) * plotH;
  const parts = [
    ...frame(title, rateMax),
    ...points.map((p, i) => {
      const cx = PAD.left + slot * (i + 0.5);
      const left = (cx - barW / 2).toFixed(1);
      return [
        `<rect x="${left}" y="${y(p.perSecond).toFixed(1)}" width="${barW.toFixed(1)}" height="${(H - PAD.bottom - y(p.perSecond)).toFixed(1)}" fill="#1f5fbf"/>`,
        `<rect x="${left}" y="${y(p.bound).toFixed(1)}" width="${barW.toFixed(1)}" height="${(H - PAD.bottom - y(p.bound)).toFixed(1)}" fill="none" stroke="#888" stroke-width="2" stroke-dasharray="4 3"/>`,
        `<line x1="${(cx - barW / 2 - 6).toFixed(1)}" x2="${(cx + barW / 2 + 6).toFixed(1)}" y1="${y(SCALE_TARGET * p.bound).toFixed(1)}" y2="${y(SCALE_TARGET * p.bound).toFixed(1)}" stroke="#c0392b" stroke-width="2"/>`,
        `<text x="${cx.toFixed(1)}" y="${(y(p.bound) - 6).toFixed(1)}" text-anchor="middle">${Math.round(p.perSecond)}/s = ${(p.perSecond / p.bound).toFixed(2)} × ${Math.round(p.bound)}</text>`,
        `<text x="${cx.toFixed(1)}" y="${H - PAD.bottom + 16}" text-anchor="middle">${p.workers} worker${p.workers === 1 ? "" : "s"}</text>`,
      ].join("");
    }),
    `<text transform="translate(16 ${H / 2}) rotate(-90)" text-anchor="middle" fill="#1f5fbf">payments/s</text>`,
    `<g transform="translate(${PAD.left + 10} ${PAD.top + 4})"><rect x="0" y="-6" width="18" height="10" fill="#1f5fbf"/><text x="24" y="4">drained, payments/s</text>` +
      `<rect x="0" y="10" width="18" height="10" fill="none" stroke="#888" stroke-width="2" stroke-dasharray="4 3"/><text x="24" y="20">N × one worker's bound</text>` +
      `<line x1="0" x2="18" y1="31" y2="31" stroke="#c0392b" stroke-width="2"/><text x="24" y="36">target: ${SCALE_TARGET} × the bound</text></g>`,
    "</svg>",
  ];
  return `${parts.join("\n")}\n`;
}
