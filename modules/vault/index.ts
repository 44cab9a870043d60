export { CardVault, type CardSecret, type SealedCard } from "./vault";
export { storeCardSecret, loadCardSecret, purgeCardSecret } from "./repository";
export { cardSecrets } from "./schema";
