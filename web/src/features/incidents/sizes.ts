/** A point of an incident's size over time (`GET /api/incidents/{id}` → `size_history`). */
export interface SizeAt { at: string; size: number }

/** Points of a step line for an incident's size over time, scaled into a width x height box.
 * The line holds each size until the next change and runs on to `nowMs` (the incident's size now). */
export function sizeSteps(history: SizeAt[], nowMs: number, width: number, height: number): string {
  if (history.length === 0) return ''
  const times = history.map((p) => Date.parse(p.at))
  const start = times[0]
  const end = Math.max(nowMs, times[times.length - 1], start + 1)
  const max = Math.max(1, ...history.map((p) => p.size))
  const x = (t: number) => ((t - start) / (end - start)) * width
  const y = (s: number) => height - (s / max) * height
  const points: string[] = []
  history.forEach((p, i) => {
    const px = x(times[i])
    if (i > 0) points.push(`${px.toFixed(1)},${y(history[i - 1].size).toFixed(1)}`)
    points.push(`${px.toFixed(1)},${y(p.size).toFixed(1)}`)
  })
  points.push(`${x(end).toFixed(1)},${y(history[history.length - 1].size).toFixed(1)}`)
  return points.join(' ')
}
