/**
 * The page after an account deletion: wipes this browser's gallery of the deleted
 * account, only on the instruction the server signed for it (the button's account id is
 * rendered only from a valid signature; a forged link shows no button).
 */
import { openGalleryDb, wipeAccount } from "./gallery/storage.js";

const button = document.getElementById("wipe");
const result = document.getElementById("wipe-result");
if (button && button.dataset.account) {
  button.addEventListener("click", async () => {
    if (!window.confirm("Delete every image of this account from this browser? This cannot be undone.")) return;
    button.disabled = true;
    try {
      const count = await wipeAccount(await openGalleryDb(), button.dataset.account);
      result.textContent = `${count} image(s) deleted from this browser.`;
    } catch {
      result.textContent = "This browser could not delete the images; clear the site's data in its settings.";
      button.disabled = false;
    }
  });
}
