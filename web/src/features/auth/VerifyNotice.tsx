import { useMutation } from '@tanstack/react-query'
import { ErrorAlert } from '../../common/ui'
import { authApi } from './api'

/** Shown while the signed-in account's address is unverified: the signup's "check your mail". */
export function VerifyNotice({ email }: { email: string }) {
  const resend = useMutation({ mutationFn: authApi.resendVerification })

  return (
    <div className="alert alert-info" role="status" data-testid="verify-notice">
      <strong>Check your mail.</strong> We sent a link to <strong>{email}</strong> to confirm that the address is
      yours. Until you follow it we send you no other mail (no updates on your tickets), and your account
      cannot be given a staff role.{' '}
      {resend.isSuccess ? (
        <span>A new link is on its way.</span>
      ) : (
        <button type="button" className="link-button" onClick={() => resend.mutate()} disabled={resend.isPending}>
          {resend.isPending ? 'Sending…' : 'Send the link again'}
        </button>
      )}
      <ErrorAlert error={resend.error} />
    </div>
  )
}
