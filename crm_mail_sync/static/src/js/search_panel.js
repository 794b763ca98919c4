/** @odoo-module **/
// The inbox's folder tree (crm.mail.email panel_node): its roots, the mailboxes and
// "My Folders", open unfolded, as in a mail client.
import { patch } from "@web/core/utils/patch";
import { SearchPanel } from "@web/search/search_panel/search_panel";

patch(SearchPanel.prototype, {
    expandDefaultValue() {
        super.expandDefaultValue(...arguments);
        if (this.hasImportedState) {
            return;
        }
        const categories = this.env.searchModel.getSections((s) => s.type === "category");
        for (const category of categories) {
            for (const [valueId, value] of category.values) {
                if (value.crm_mail_unfold) {
                    this.state.expanded[category.id][valueId] = true;
                }
            }
        }
    },
});
