// The file handles a test directory (memory, simulated) has handed out and that are not closed
// yet. Tests read it to prove that no path, failed or not, leaves a descriptor behind: on a real
// file system each one would be a leaked fd, and on Windows a file that cannot be deleted.
export class OpenHandles {
  private readonly open = new Map<object, string>();

  track(handle: object, path: string): void {
    this.open.set(handle, path);
  }

  untrack(handle: object): void {
    this.open.delete(handle);
  }

  /** The process that held them died: the OS closes every descriptor it had (simulated kills). */
  closeAllOnExit(): void {
    this.open.clear();
  }

  get count(): number {
    return this.open.size;
  }

  /** The paths of the handles still open, one per handle, sorted. */
  paths(): string[] {
    return [...this.open.values()].sort();
  }
}
