/**
 * Cleanup after a failure (closing a descriptor, removing a leftover): a cleanup that fails too is
 * ignored, so the failure before it, the one the caller acts on, is the one reported.
 */
export function cleanUpAfterFailure(cleanup: () => void): void {
  try {
    cleanup();
  } catch {
    // the failure before this cleanup is the one to report
  }
}
