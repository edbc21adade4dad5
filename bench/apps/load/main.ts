/** A trivial function that holds its slot for a moment, as real work would. */
export async function hello() {
  await new Promise((resolve) => setTimeout(resolve, 5));
  return { message: 'hello' };
}
