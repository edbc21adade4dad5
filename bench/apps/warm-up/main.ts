// The demo app's embed and the models it declares for warm-up (its folder is EMBED_MODEL).
export { embed, models } from '../../../functions/embed.ts';
