/** Why a file named by a flag could not be read, in words an operator acts on. */
export function unreadable(err: unknown): string {
  switch ((err as NodeJS.ErrnoException).code) {
    case "ENOENT":
      return "no such file";
    case "EACCES":
      return "not readable (permission denied)";
    case "EISDIR":
      return "a directory";
    default:
      return err instanceof Error ? err.message : String(err);
  }
}
