import type { SizePoint } from './api'
import { sizeSteps } from './sizes'

/** An incident's size over time as a small step line (with its size now as the text). */
export function SizeLine({ history, size, width = 120, height = 28 }: { history: SizePoint[]; size: number; width?: number; height?: number }) {
  return (
    <svg viewBox={`0 0 ${width} ${height}`} width={width} height={height} role="img" aria-label={`${size} tickets now`}>
      <polyline points={sizeSteps(history, Date.now(), width, height - 2)} fill="none" stroke="#0969da" strokeWidth="2" transform="translate(0,1)" />
    </svg>
  )
}
