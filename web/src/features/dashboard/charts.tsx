import type { Bar } from './stats'

/** Vertical bars over time, hand-made SVG with a text alternative. */
export function ColumnChart({ data, title, height = 210 }: { data: Bar[]; title: string; height?: number }) {
  const width = 960
  const pad = { top: 18, right: 8, bottom: 26, left: 30 }
  const max = Math.max(1, ...data.map((d) => d.value))
  const innerW = width - pad.left - pad.right
  const innerH = height - pad.top - pad.bottom
  const step = innerW / Math.max(1, data.length)
  const barW = Math.max(2, step * 0.7)
  const ticks = [0, Math.ceil(max / 2), max].filter((v, i, a) => a.indexOf(v) === i)
  const labelEvery = Math.ceil(data.length / 8)
  const total = data.reduce((a, b) => a + b.value, 0)
  return (
    <figure style={{ margin: 0 }} className="chart-scroll">
      <svg className="chart column-chart" viewBox={`0 0 ${width} ${height}`} role="img" aria-label={`${title}: ${total} in total`}>
        {ticks.map((t) => {
          const y = pad.top + innerH - (t / max) * innerH
          return (
            <g key={t}>
              <line x1={pad.left} x2={width - pad.right} y1={y} y2={y} stroke="#e3e8ef" />
              <text x={pad.left - 6} y={y + 4} textAnchor="end">{t}</text>
            </g>
          )
        })}
        {data.map((d, i) => {
          const h = (d.value / max) * innerH
          const x = pad.left + i * step + (step - barW) / 2
          return (
            <g key={d.label}>
              <rect className="bar" x={x} y={pad.top + innerH - h} width={barW} height={Math.max(0, h)} rx={2}>
                <title>{`${d.label}: ${d.value}`}</title>
              </rect>
              {i % labelEvery === 0 && (
                <text x={x + barW / 2} y={height - 8} textAnchor="middle">{d.label.slice(5)}</text>
              )}
            </g>
          )
        })}
      </svg>
      <figcaption className="visually-hidden">
        <table>
          <caption>{title}</caption>
          <tbody>{data.map((d) => <tr key={d.label}><th>{d.label}</th><td>{d.value}</td></tr>)}</tbody>
        </table>
      </figcaption>
    </figure>
  )
}

/** Horizontal bars as plain HTML (readable by screen readers as is). */
export function HBarList({ data, colorByLabel, emptyText = 'No data yet.' }: { data: Bar[]; colorByLabel?: boolean; emptyText?: string }) {
  if (!data.length || data.every((d) => d.value === 0)) return <p className="muted">{emptyText}</p>
  const max = Math.max(1, ...data.map((d) => d.value))
  return (
    <ul className="hbars" style={{ listStyle: 'none', margin: 0, padding: 0 }}>
      {data.map((d) => (
        <li className="hbar" key={d.label}>
          <span className="name" title={d.label}>{d.label}</span>
          <span className="track" aria-hidden="true">
            <span className={`fill ${colorByLabel ? d.label.toLowerCase() : ''}`} style={{ width: `${(d.value / max) * 100}%`, display: 'block' }} />
          </span>
          <span className="num">{d.value}</span>
        </li>
      ))}
    </ul>
  )
}
