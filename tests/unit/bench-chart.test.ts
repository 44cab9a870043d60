import { describe, expect, test } from "bun:test";
import { renderScaleChart } from "../../scripts/bench-chart";

describe("bench scale chart (docs/bench-scale.svg)", () => {
  const svg = renderScaleChart(
    [
      { workers: 1, perSecond: 155, bound: 160 },
      { workers: 2, perSecond: 296, bound: 320 },
      { workers: 3, perSecond: 433, bound: 480 },
    ],
    "scale-out",
  );

  test("labels each run with its rate, its ratio to N × the one-worker bound and its worker count", () => {
    expect(svg).toContain("155/s = 0.97 × 160");
    expect(svg).toContain("296/s = 0.93 × 320");
    expect(svg).toContain("433/s = 0.90 × 480");
    expect(svg).toContain(">1 worker<");
    expect(svg).toContain(">3 workers<");
  });

  test("draws each bar to scale: the measured bar's height over its bound's is the ratio", () => {
    // The bars (the legend's swatches are 18 wide).
    const heights = [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)" height="([\d.]+)" fill="(#1f5fbf|none)"/g)].filter((m) => m[1] !== "18").map((m) => Number(m[2]));
    expect(heights).toHaveLength(6);
    for (let i = 0; i < 3; i++) expect((heights[2 * i] as number) / (heights[2 * i + 1] as number)).toBeCloseTo([155 / 160, 296 / 320, 433 / 480][i] as number, 2);
  });

  test("is one well-formed SVG document", () => {
    expect(svg.startsWith("<svg ")).toBe(true);
    expect(svg.trim().endsWith("</svg>")).toBe(true);
    expect(svg.match(/<svg /g)).toHaveLength(1);
  });
});
