/** The same JSON the bare baseline answers. */
export function hello() {
  return { message: 'hello' };
}

/** `count` small chunks, as fast as the client takes them. */
export async function* chunks({ count = 10_000 }: { count?: number }) {
  for (let i = 0; i < count; i += 1) yield `chunk ${i}`;
}

/** A result of `mb` megabytes, to see what storing and sending it costs the rest of the server. */
export function big({ mb = 60 }: { mb?: number }) {
  return { text: 'x'.repeat(mb * 1024 * 1024) };
}
