import { useQuery } from '@tanstack/react-query'
import { useDocumentTitle } from '../../common/hooks'
import { triageApi, triageKeys } from './api'
import { CategoriesEditor } from './CategoriesEditor'
import { ExamplesImport } from './ExamplesImport'
import { ModelPanel } from './ModelPanel'

/** /admin/triage — what the AI may choose from, what it learns from, and how well it does. */
export function TriageAdminPage() {
  useDocumentTitle('Triage')
  // what the CSV import accepts: the categories as saved (CategoriesEditor updates the same query)
  const names = useQuery({ queryKey: triageKeys.categories, queryFn: triageApi.categories }).data?.categories.map((c) => c.name) ?? null
  return (
    <>
      <div className="page-head">
        <div>
          <h1>Triage</h1>
          <p>What the AI may choose from, what it learns from, and how well it does.</p>
        </div>
      </div>
      <div className="grid-2">
        <div>
          <CategoriesEditor />
          <ExamplesImport categories={names} />
        </div>
        <div>
          <ModelPanel />
        </div>
      </div>
    </>
  )
}
