import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

// The layout rules of docs/CONVENTIONS.md ("Web app by feature"), checked on every file.
const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..')

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : /\.tsx?$/.test(e.name) ? [join(dir, e.name)] : [])
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8')
  return [...text.matchAll(/^import [^'"]*['"](\.[^'"]+)['"]/gm)].map((m) => relative(SRC, resolve(dirname(file), m[1])))
}

describe('web/src layout', () => {
  it('a feature uses other features only through their api.ts (and the session); common/ and api/ use no feature', () => {
    const wrong: string[] = []
    for (const file of sources(SRC)) {
      const [top, feature] = relative(SRC, file).split('/')
      for (const target of imports(file)) {
        const [tTop, tFeature, ...rest] = target.split('/')
        if (tTop !== 'features') continue
        if (top === 'common' || top === 'api') {
          if (!file.endsWith('.test.ts')) wrong.push(`${relative(SRC, file)} imports ${target}`)
        } else if (top === 'features' && tFeature !== feature && !(rest.join('/') === 'api' || target === 'features/auth/session')) {
          wrong.push(`${relative(SRC, file)} imports ${target}`)
        }
      }
    }
    expect(wrong).toEqual([])
  })
})
