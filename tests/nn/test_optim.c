/*
 * test_optim.c — optimizer steps against updates computed by hand (SGD,
 * Adam, AdamW) or by PyTorch 1.13 (RMSprop, Adagrad: the REF_* constants,
 * printed by tests/nn/gen_optim_ref.py — run it with /usr/bin/python3 and
 * paste its output over the generated block below; it rebuilds the inputs
 * from the same seeds as t_fill_uniform, so only the outputs are stored),
 * gradient clipping, learning-rate schedules, parameter lists and
 * checkpoints, and a short real training run on a Fashion-MNIST subset.
 */
#define _POSIX_C_SOURCE 200809L
#include <unistd.h>

#include "test_util.h"

#include "npg/io.h"

static void setup(void) { t_require_device(); }
TestSuite(optim, .init = setup);

#define OPT(...) NPG_OPTS(.device = t_dev(), __VA_ARGS__)

static npg_array *vec(const double *v, int n, bool grad) {
    npg_array *x = npg_from_data(v, NPG_FLOAT64, NPG_SHAPE(n), OPT(.requires_grad = grad));
    cr_assert(x, "%s", npg_last_error());
    return x;
}

/* set p.grad = g by backward of sum(p * g) */
static void set_grad(npg_array *p, const double *g, int n) {
    npg_scope s = npg_scope_begin();
    npg_zero_grad(p);
    npg_array *gv = npg_astype(vec(g, n, false), npg_dtype_of(p));
    cr_assert_eq(npg_backward(npg_sum(npg_multiply(p, gv), NPG_ALL_AXES, false), NULL), NPG_OK, "%s", npg_last_error());
    npg_scope_end(s);
}

static const double P0[3] = {1.0, -2.0, 0.5};
static const double G[3][3] = {{0.1, -0.3, 2.0}, {-1.0, 0.5, 0.25}, {0.3, 0.3, -0.7}};

Test(optim, sgd_variants_match_hand_computation) {
    struct {
        npg_sgd_opts o;
    } cases[] = {
        {{.lr = 0.1}},
        {{.lr = 0.1, .momentum = 0.9}},
        {{.lr = 0.05, .momentum = 0.9, .nesterov = true, .weight_decay = 0.01}},
        {{.lr = 0.2, .momentum = 0.5, .dampening = 0.3, .weight_decay = 0.1}},
    };
    for (int dt = 0; dt < 2; dt++) {
        npg_dtype d = dt ? NPG_FLOAT64 : NPG_FLOAT32;
        for (size_t k = 0; k < 4; k++) {
            npg_scope s = npg_scope_begin();
            npg_array *p = npg_astype(vec(P0, 3, false), d);
            npg_set_requires_grad(p, true);
            npg_optimizer *o = npg_sgd_new(&p, 1, &cases[k].o);
            cr_assert(o, "%s", npg_last_error());
            double pv[3], buf[3] = {0};
            memcpy(pv, P0, sizeof pv);
            const npg_sgd_opts *h = &cases[k].o;
            for (int t = 0; t < 3; t++) {
                set_grad(p, G[t], 3);
                cr_assert_eq(npg_optimizer_step(o), NPG_OK, "%s", npg_last_error());
                for (int i = 0; i < 3; i++) {
                    double dd = G[t][i] + h->weight_decay * pv[i];
                    if (h->momentum) {
                        buf[i] = t == 0 ? dd : h->momentum * buf[i] + (1 - h->dampening) * dd;
                        dd = h->nesterov ? dd + h->momentum * buf[i] : buf[i];
                    }
                    pv[i] -= h->lr * dd;
                }
                char what[64];
                snprintf(what, sizeof what, "sgd case %zu step %d %s", k, t, npg_dtype_name(d));
                t_assert_close(p, pv, 3, d == NPG_FLOAT32 ? 1e-6 : 1e-14, 1e-7, what);
            }
            npg_optimizer_free(o);
            npg_scope_end(s);
        }
    }
}

Test(optim, adam_and_adamw_match_hand_computation) {
    for (int w = 0; w < 2; w++) {
        for (int dt = 0; dt < 2; dt++) {
            npg_dtype d = dt ? NPG_FLOAT64 : NPG_FLOAT32;
            npg_scope s = npg_scope_begin();
            npg_array *p = npg_astype(vec(P0, 3, false), d);
            npg_set_requires_grad(p, true);
            npg_adam_opts ao = {.lr = 0.01, .beta1 = 0.8, .beta2 = 0.95, .eps = 1e-6, .weight_decay = 0.05};
            npg_optimizer *o = w ? npg_adamw_new(&p, 1, &ao) : npg_adam_new(&p, 1, &ao);
            cr_assert(o, "%s", npg_last_error());
            double pv[3], m[3] = {0}, v[3] = {0};
            memcpy(pv, P0, sizeof pv);
            for (int t = 1; t <= 3; t++) {
                set_grad(p, G[t - 1], 3);
                cr_assert_eq(npg_optimizer_step(o), NPG_OK, "%s", npg_last_error());
                for (int i = 0; i < 3; i++) {
                    double g = G[t - 1][i];
                    if (w)
                        pv[i] *= 1 - ao.lr * ao.weight_decay;
                    else
                        g += ao.weight_decay * pv[i];
                    m[i] = ao.beta1 * m[i] + (1 - ao.beta1) * g;
                    v[i] = ao.beta2 * v[i] + (1 - ao.beta2) * g * g;
                    double mh = m[i] / (1 - pow(ao.beta1, t)), vh = v[i] / (1 - pow(ao.beta2, t));
                    pv[i] -= ao.lr * mh / (sqrt(vh) + ao.eps);
                }
                char what[64];
                snprintf(what, sizeof what, "%s step %d %s", w ? "adamw" : "adam", t, npg_dtype_name(d));
                t_assert_close(p, pv, 3, d == NPG_FLOAT32 ? 2e-6 : 1e-13, 1e-7, what);
            }
            npg_optimizer_free(o);
            npg_scope_end(s);
        }
    }
}

/* ---- RMSprop and Adagrad against PyTorch 1.13 ------------------------------ */

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- BEGIN generated by tests/nn/gen_optim_ref.py (torch 1.13.0a0) ---- */
static const double REF_RMSPROP_PLAIN[75] = {-0.7977121145455075, -0.38885269020251234, 0.3246015162761424, -0.7803233101533176, -0.03831766931279865, -0.062124168208401706, 0.8067969794825282, -0.6475258980025477, 0.2418485905933572, -0.42323715487965924, 0.19728652294412596, 0.48479924833189847, -0.3686536792566649, -0.1952620227332914, -0.5128325065755056, -0.7459406217858255, -0.3225057219862404, 0.2597441919901843, -0.7171201947346875, 0.024720697435004005, 0.037652370471855906, 0.7412585556697212, -0.6588238371819721, 0.3077941714738025, -0.3590343603715872, 0.13082465873693394, 0.4393847896065826, -0.35217301642855514, -0.12840957248818222, -0.44639013522982135, -0.7135557418134549, -0.2705670427791582, 0.20983473016235518, -0.7423738739588658, 0.07214323146122269, 0.03115626201738665, 0.6904200731254336, -0.6601224573096954, 0.35918708861236137, -0.31001908829578523, 0.07872992264546, 0.41467351298438954, -0.3493002048766915, -0.07578491103527428, -0.39432187003358227, -0.6921079043047451, -0.22712374908288452, 0.16874119481846814, -0.7329733417749629, 0.11035016949048787, 0.031600359031424455, 0.6482495668188795, -0.6602660120123263, 0.40199943406162014, -0.269963272783795, 0.035106391967170074, 0.4006506181371711, -0.34881026436611556, -0.0315500043342086, -0.35072890590596856, -0.6775917219289284, -0.18945990837700755, 0.1336584782581849, -0.7364936272926105, 0.14226143370241356, 0.03156760191303118, 0.6119830175333486, -0.6602812343776252, 0.43897094577020607, -0.23602151667908666, -0.002755068008590593, 0.39261012448171234, -0.3487287618050551, 0.006981200632392756, -0.3129009551789676};
static const double REF_RMSPROP_CENTERED[75] = {-0.7972083333739699, -0.38834890881202766, 0.3240977348519974, -0.7808270902873967, -0.03781388798224296, -0.0626279416839817, 0.8062931980510998, -0.6480296788564716, 0.24235237197912354, -0.4227333735289812, 0.19678274148608227, 0.48429546720615874, -0.368149898446467, -0.1947582412788154, -0.5123287251227602, -0.7450726919688229, -0.3213596705104302, 0.258624156073175, -0.7171945082005693, 0.025807966221747053, 0.03758685845665284, 0.7401265273539024, -0.658952829582665, 0.3089332910900858, -0.3579259956322026, 0.1296766339945153, 0.4386461991893749, -0.35196869958756366, -0.12725487748074021, -0.4452424449080731, -0.7124896890515098, -0.2686918468479517, 0.2080397746497601, -0.7422647285760436, 0.07383752216465911, 0.031170667484728166, 0.6885881426668391, -0.6601445311857465, 0.36104089673009077, -0.3082600648432047, 0.07684863899956768, 0.4139162990076013, -0.34924506945359574, -0.073883052626753, -0.39244161809716793, -0.690989862239311, -0.22446079758534915, 0.16624287013893013, -0.7330453161991095, 0.11264319425087924, 0.031598638267013215, 0.6456754369349859, -0.6602691597877737, 0.40461846837373916, -0.2675384504807417, 0.03243093905325636, 0.399996536885906, -0.34879778405197315, -0.02883230256667428, -0.3480555716721163, -0.6765271729092157, -0.18596966796513908, 0.1304488991526865, -0.736455251063435, 0.14512389915400165, 0.03156778657588999, 0.6086443545623323, -0.6602816335182785, 0.4423862090555862, -0.23293670735321134, -0.00626665812564401, 0.39210076950003087, -0.3487262160944918, 0.01056495243319494, -0.30939298346488997};
static const double REF_RMSPROP_MOMENTUM[75] = {-0.8477120970035176, -0.43885268349840484, 0.3746015112382225, -0.7303233790495481, -0.08831765964220471, -0.012124566701892433, 0.8567969748051336, -0.5975259312664271, 0.1918485975310238, -0.47323714620512136, 0.2472865195841863, 0.5347992285229114, -0.4186536438283484, -0.24526201919675422, -0.5628325029533018, -0.7713568654069491, -0.3594936895823053, 0.2955790711356318, -0.7800385099575776, -0.009695083997014409, -0.007631774228916922, 0.7776217183820752, -0.6669352128127026, 0.2711160539757522, -0.3943599428930653, 0.16790120016654317, 0.45961105873215563, -0.3483722817910771, -0.16578681616836768, -0.48345165324948, -0.6844208463333744, -0.261659180593796, 0.19889651756768878, -0.7932910692965636, 0.08559393352765314, 0.02970601381351613, 0.6804136962516901, -0.7268066445494424, 0.36863918302110316, -0.2981804544073774, 0.06997742071519654, 0.3772046034701978, -0.28524286638485785, -0.0675591150708663, -0.38554302316477923, -0.6006419543147877, -0.15275854999707503, 0.09253019030540412, -0.7734808059623058, 0.18883808712403422, 0.06490028240084059, 0.5728857995602215, -0.7575532365807413, 0.47685922026910066, -0.19293447201518651, -0.03911769908284922, 0.3039299304696635, -0.2494520578863703, 0.04219603744891376, -0.2764808892568154, -0.5318780862639585, -0.03840856889617825, -0.01726225430819756, -0.73632263510338, 0.2929291703586092, 0.07176318302479824, 0.4609953131010926, -0.7571084562205916, 0.5899926610190025, -0.08517850302641941, -0.1538142396499623, 0.2522853095110187, -0.24481013727177633, 0.15806497849911186, -0.16184309193312119};
static const double REF_RMSPROP_WD[75] = {-0.8532312318712459, -0.4361023901785253, 0.3697378522111613, -0.6820889358810707, -0.08958637201105515, 0.03195297559333935, 0.8511400253573355, -0.5713509033649296, 0.1935285481393479, -0.47270069557140076, 0.2400076768440748, 0.5428754175438928, -0.43430067128596805, -0.2382607943535931, -0.5558378361847367, -0.8214395536989826, -0.39747431182757476, 0.33040147964156136, -0.6828821813411398, -0.05414050120705765, 0.030515414803696215, 0.8111045039851349, -0.5858656975485438, 0.23131671602768625, -0.4358372681369181, 0.19891232222482236, 0.5134818175041439, -0.41077074487470855, -0.19718904485022629, -0.5148663541758164, -0.795774947103732, -0.3652725570815947, 0.2980121583130516, -0.683240030455894, -0.02490518644832234, 0.03016768679236196, 0.7780268338648462, -0.5953920932828913, 0.2627407159388617, -0.40528491067985756, 0.16495110467718432, 0.49026139662489426, -0.39289839686351313, -0.16315760277814653, -0.48097319555002155, -0.7739697653307331, -0.3369225683117824, 0.2697661486683828, -0.6834013448568885, 0.0005254993330221433, 0.03008479012781844, 0.7490806255343869, -0.6017719303625341, 0.2903295771047747, -0.37855964196852204, 0.13519834766307917, 0.4709950601428412, -0.37876232774567864, -0.13328083863638981, -0.451259056087923, -0.754924880398058, -0.31119715429401884, 0.24434364417576962, -0.6834739468950672, 0.023307444098942098, 0.030065318421510327, 0.722936253128733, -0.6060539989222289, 0.31529128459182987, -0.3544726027064197, 0.10828391961208564, 0.4545971369550497, -0.36737069018705587, -0.10620447602719506, -0.4243643594430913};
static const double REF_RMSPROP_CENTERED_MOMENTUM[75] = {-0.847712083250372, -0.43885267841713865, 0.37460150743340526, -0.730323415525961, -0.08831765235734765, -0.01212487863587982, 0.8567969712495084, -0.5975259543624821, 0.19184860271703558, -0.47323713960506103, 0.24728651705592425, 0.5347992131520478, -0.41865361599592305, -0.2452620165352146, -0.562832500216984, -0.7850246680757834, -0.3733702124490192, 0.3094737129369188, -0.7261511872701634, -0.023686395427164476, 0.010792433866271808, 0.7914731559779238, -0.6461631845496348, 0.2571737518490773, -0.40826027556638905, 0.18176968874390112, 0.47349086707319954, -0.36201207812066943, -0.17965040562730142, -0.4973085257987882, -0.7242226018954723, -0.3034565852373203, 0.24064463767354458, -0.700798098260275, 0.04358434558759473, 0.0460770555412183, 0.7220416142494878, -0.664397807230061, 0.32660936905079274, -0.33990008770130564, 0.11175231226009191, 0.4175107002061505, -0.322172857414008, -0.10934809169724855, -0.42726960273865644, -0.6729555322842724, -0.2327362910330552, 0.1721488083081366, -0.6990553020296303, 0.10880528033086591, 0.04683211623491396, 0.6523037126748797, -0.6568394203126924, 0.39635562078973025, -0.2723809504997075, 0.04082202955349105, 0.376230275634288, -0.30750739404851535, -0.03784382224473537, -0.3562957751304546, -0.6356715583221628, -0.1623454816600528, 0.10564472595188823, -0.7123706973420806, 0.16951752742762355, 0.029614198066733516, 0.5836212755085655, -0.6402742138130828, 0.4650526400648289, -0.20759985560083297, -0.02993188637940445, 0.35306697378966156, -0.31163689773785874, 0.03389839495307281, -0.28546666209011407};
static const double REF_RMSPROP_COSINE[75] = {-0.7977121145455075, -0.38885269020251234, 0.3246015162761424, -0.7803233101533176, -0.038317669312798626, -0.062124168208401734, 0.8067969794825282, -0.6475258980025477, 0.2418485905933572, -0.4232371548796592, 0.19728652294412594, 0.4847992483318984, -0.36865367925666487, -0.1952620227332914, -0.5128325065755056, -0.6681248262573651, -0.24594255927617237, 0.18305300303492647, -0.8048170940780279, 0.10156820425808945, -0.05318719261909768, 0.664625901416935, -0.7401179992531367, 0.38439182997151206, -0.28228692557075713, 0.054271364956450005, 0.36102265934798616, -0.2713242733814347, -0.05188984688121937, -0.369835166618466, -0.5750714194519553, -0.11625749037022509, 0.05688694235129713, -0.7731425662836289, 0.223316279995317, -0.0008272900537832993, 0.5368389881253418, -0.7630246183324051, 0.5131382144912038, -0.15769628952751683, -0.07568105755438044, 0.2833925161516527, -0.24255039068533799, 0.07896688792281555, -0.239928059939964, -0.5349354590946588, -0.032210090858354766, -0.02285863502107068, -0.7414638717918814, 0.2975628890061129, 0.03754691256805708, 0.4551010990060464, -0.7506798803975451, 0.5960469626449636, -0.07990194149929356, -0.16005144676779468, 0.2581845689203736, -0.2516683939728464, 0.16442523912322993, -0.15561237489998747, -0.5251186153435062, 0.007210841333431607, -0.05920863644719895, -0.7275114646359095, 0.3299428993902018, 0.05231331746021803, 0.4173228849841963, -0.7369425245559089, 0.6346599697764875, -0.04495770498911026, -0.19970078242858572, 0.25630875880652937, -0.26433144753765797, 0.20484121465118982, -0.11600169850183775};
static const double REF_ADAGRAD_PLAIN[75] = {-0.887712079465036, -0.47885267679563814, 0.41460150620131014, -0.6903234479319994, -0.1283176499735449, 0.027875034884316183, 0.8967969701286744, -0.5575259645236535, 0.15184860446730286, -0.5132371375323185, 0.28728651622491863, 0.5747992087178863, -0.45865360840711755, -0.28526201566092435, -0.6028324993318225, -0.8807859767346508, -0.47182358958591103, 0.40758485987497656, -0.6966589221188494, -0.1213154575719868, 0.032931111248420686, 0.8897747069219567, -0.5642616826027311, 0.15887428231195008, -0.5062257811212768, 0.2802564450623643, 0.5679089763069013, -0.4518965276604825, -0.27822857208849616, -0.5958025953612118, -0.8752041876167164, -0.46610536075620357, 0.4018830511539824, -0.7014426856699089, -0.1156327480818403, 0.031100086414776962, 0.8840654825493349, -0.5695885398549512, 0.16458801306521795, -0.5005309596774811, 0.27453691832550225, 0.5623749702494127, -0.44654091541172947, -0.2725045977457498, -0.5900832891550758, -0.8704195130477915, -0.461167146945666, 0.39696324011049866, -0.7053110769883049, -0.11073436926759923, 0.03173096517766714, 0.8791373577788342, -0.5740830626647897, 0.16952118782091077, -0.4956189860951538, 0.2695972508128666, 0.557644382332982, -0.44201348666807094, -0.2675599497883352, -0.5851438686351108, -0.8661773129494817, -0.4567606808318895, 0.39257638383763577, -0.7085549711209221, -0.10637037913174499, 0.03151490336570878, 0.8747416396730173, -0.5780114340102354, 0.173922286603891, -0.4912404881654894, 0.2651892366105852, 0.5534603772277523, -0.4380493435349275, -0.26314663284950224, -0.5807361174522895};
static const double REF_ADAGRAD_LR_DECAY[75] = {-0.8477120794790697, -0.43885267680100143, 0.3746015062053405, -0.7303234478768824, -0.08831764998128137, -0.012124964796886496, 0.8567969701324164, -0.5975259644970424, 0.19184860446175275, -0.47323713753925806, 0.24728651622760656, 0.5347992087337334, -0.41865360843546023, -0.24526201566375358, -0.5628324993347202, -0.8192942516677247, -0.4077001483601226, 0.3437555520818978, -0.7345886399555956, -0.05783587804521719, 0.03286362748175128, 0.8258118189125035, -0.6196313786152354, 0.22291774603877582, -0.44252346429603956, 0.21611000987223053, 0.5074430528677519, -0.39575643363716284, -0.2140036245688194, -0.5316600645066845, -0.7995834465564661, -0.3847809739966748, 0.32119236433128306, -0.7352931716640626, -0.03569727814731724, 0.03164321348728797, 0.8030868247086395, -0.6321506683261032, 0.2457402342355678, -0.4201142968257156, 0.19316305363508363, 0.4889835790129171, -0.38238543329864094, -0.190961862799486, -0.5087178250758431, -0.7847161715110667, -0.36667290900967264, 0.30343958137346905, -0.7354548739776956, -0.018370201321746746, 0.03157945227503, 0.7851723576983302, -0.6399805296360531, 0.263751963890884, -0.40251570764069466, 0.17502733044196075, 0.47538754917047177, -0.37377525023515995, -0.17273183455549587, -0.4905867969651999, -0.7729470030312875, -0.35176444737901275, 0.28887123389083175, -0.7355008878663208, -0.004211252424045686, 0.031571804533307254, 0.7704490411435129, -0.6451718171299233, 0.27856835414521447, -0.3880954260748608, 0.1600924564220427, 0.4648555019554034, -0.36790540763109586, -0.15770697739736267, -0.4756564058579029};
static const double REF_ADAGRAD_INIT_ACC[75] = {-0.860325786557518, -0.4162840685702401, 0.3431582581270345, -0.6905331615019836, -0.07929371630871128, 0.03610087821590054, 0.8233929591292547, -0.568318842202589, 0.21322939913506478, -0.4600541380453993, 0.2069646212776313, 0.5511806360544548, -0.4490808563093418, -0.20582437432449285, -0.5238303975786684, -0.8299998977098921, -0.3609849431197529, 0.2850771564048697, -0.6988259366152849, -0.032925389735656736, 0.03482604989914194, 0.7639608062366972, -0.58503870088149, 0.2676702129999187, -0.4108464148714324, 0.14404897998723404, 0.5241741001393744, -0.4329174925048566, -0.1428857477687, -0.46142812668463107, -0.8048120898877996, -0.31529560651269145, 0.23878755378862027, -0.7055748320798731, 0.005571961712718551, 0.033909951039572145, 0.7164558412921312, -0.5985925089778485, 0.31260281722956174, -0.37004281006309864, 0.09398221744994795, 0.5020387168680331, -0.41948008265097303, -0.09250701197202399, -0.41165076515696736, -0.783575455270365, -0.27595022983236145, 0.19994691485147748, -0.7110743264909075, 0.03854774536450992, 0.033251613027669664, 0.6764324720430788, -0.6096368772792014, 0.35122904207192074, -0.3350239994448967, 0.05176644634021478, 0.4836650018686266, -0.4082583563139838, -0.04983357055454718, -0.36962684815926844, -0.7654890547803552, -0.2412034057897299, 0.16637549325798234, -0.7155595219061273, 0.06736215406615763, 0.03277850125347377, 0.6416775806103602, -0.6186669417219663, 0.3852697266359894, -0.30431209884491833, 0.014994732977563867, 0.4682860518089757, -0.398857903925378, -0.012512851925396098, -0.33299446891514195};
static const double REF_ADAGRAD_WD[75] = {-0.8154245903967114, -0.39945059136792377, 0.33309484481798396, -0.6414885656294268, -0.053828866545433895, 0.021123618750550178, 0.8142025646868288, -0.5765072234071916, 0.22922765783650664, -0.43604046578533984, 0.20335602726344046, 0.5061043430013624, -0.3985167751158528, -0.20161984172748626, -0.5190710300077757, -0.7635969411749293, -0.33854860749681953, 0.2724033140331082, -0.6386349182119339, 0.0014757505679190638, 0.034262940983047406, 0.7520057167471158, -0.5739375448668296, 0.28795751493598676, -0.3777365036366213, 0.1401817330409808, 0.4595434967470548, -0.36139354037448534, -0.13824816417677133, -0.4558135125510688, -0.7255423973718361, -0.29044849821741775, 0.2253356792958336, -0.6384222379962926, 0.04356974750871558, 0.024780529857455373, 0.7032460214608903, -0.5741624633204075, 0.3337741384153736, -0.3324456274932082, 0.09054462248816787, 0.4274405162981749, -0.33881281689640935, -0.08824139003421097, -0.4060041632230097, -0.695876064676682, -0.25007587174493673, 0.18644842490075217, -0.6384063858622592, 0.07761855834144016, 0.031360023193197695, 0.6625391393312674, -0.5741427786492366, 0.3717660276477449, -0.2950417859851861, 0.0489985200707288, 0.4040409731935639, -0.3244842084360683, -0.04622945900745538, -0.36423639547689785, -0.6720236840333679, -0.21503805897930467, 0.15319737127214222, -0.6384052043218817, 0.10607253550785527, 0.02687722411257236, 0.6273686008605054, -0.5741445014335506, 0.40433663531463654, -0.26310458558395705, 0.013003723019887975, 0.38653251825596036, -0.3152459384766943, -0.009703592586008135, -0.32798656908251766};
static const double REF_ADAGRAD_STEP_LR[75] = {-0.8296213003416613, -0.39669544601872814, 0.3292838140698887, -0.7006858740759666, -0.05294692147225433, 0.033790914623418156, 0.8108401435794983, -0.5891677008290103, 0.23339218719155236, -0.43538251412052975, 0.1994622374282573, 0.5215448843400646, -0.42677970393686465, -0.19766364620931007, -0.5153361613572236, -0.7869969211443975, -0.33625698188655306, 0.2691342658671526, -0.7120437113439837, 0.0023291561659441115, 0.03235943343550259, 0.7498428589285436, -0.6127542052210703, 0.2932250210216781, -0.3782569757906307, 0.13704098439126375, 0.4833145991197279, -0.40143761039958237, -0.13495078171904823, -0.45302850931454386, -0.7721129879349843, -0.31334307340519624, 0.24681155025376716, -0.7153535065643816, 0.02285362529428512, 0.0320873676042417, 0.7270623784781847, -0.6199101366112552, 0.3158340711453965, -0.3568846813027217, 0.11359179894278058, 0.4704983245287927, -0.39326195531206354, -0.11129041776518124, -0.4296107233864763, -0.7598447369586551, -0.29429276471838833, 0.2283440222617602, -0.717930451489186, 0.03992447038431843, 0.03190187379978788, 0.7082048771502081, -0.6255572470606423, 0.33462953827358266, -0.3391072182654108, 0.09418649725058624, 0.46005778588026663, -0.38666755652980245, -0.09169777621206932, -0.4102265177690342, -0.7546814775011341, -0.28613263003106054, 0.22046830795329644, -0.7189463855727115, 0.04721886456283917, 0.031837409049302684, 0.7001548193964707, -0.6278187458381319, 0.34267739992970336, -0.3315026475389037, 0.08589810091922385, 0.4557219234831419, -0.3839694476473058, -0.0833234336717903, -0.4019458697465681};
/* ---- END generated ---- */

/* The inputs of gen_optim_ref.py: p (3, 5) from uniform(-1, 1, P_SEED), and
 * the loss sum(A p^2 + B p) with A from uniform(0.2, 1, A_SEED) and B from
 * uniform(-1, 1, B_SEED); 5 steps. */
#define P_SEED 201
#define A_SEED 202
#define B_SEED 203
#define RN 15
#define RSTEPS 5

typedef enum { SCHED_NONE, SCHED_COSINE, SCHED_STEP } sched_kind;

/* Keep in sync with CASES in gen_optim_ref.py. defaults: pass opts NULL. */
static const struct ref_case {
    const char *name;
    bool adagrad, defaults;
    npg_rmsprop_opts r;
    npg_adagrad_opts a;
    sched_kind sched; /* npg_optimizer_set_lr before step k: cosine(0.01, k, 5, 0.001), step(0.1, k, 2, 0.5) */
    const double *want;
} REF_CASES[] = {
    {"rmsprop plain", .defaults = true, .want = REF_RMSPROP_PLAIN},
    {"rmsprop centered", .r = {.centered = true}, .want = REF_RMSPROP_CENTERED},
    {"rmsprop momentum", .r = {.lr = 0.005, .momentum = 0.9}, .want = REF_RMSPROP_MOMENTUM},
    {"rmsprop weight decay", .r = {.lr = 0.02, .alpha = 0.9, .eps = 0.05, .weight_decay = 0.1}, .want = REF_RMSPROP_WD},
    {"rmsprop centered momentum",
     .r = {.lr = 0.02, .alpha = 0.8, .momentum = 0.5, .weight_decay = 0.05, .centered = true},
     .want = REF_RMSPROP_CENTERED_MOMENTUM},
    {"rmsprop cosine lr", .r = {.lr = 0.01, .momentum = 0.9}, .sched = SCHED_COSINE, .want = REF_RMSPROP_COSINE},
    {"adagrad plain", .adagrad = true, .defaults = true, .want = REF_ADAGRAD_PLAIN},
    {"adagrad lr_decay", .adagrad = true, .a = {.lr = 0.05, .lr_decay = 0.1}, .want = REF_ADAGRAD_LR_DECAY},
    {"adagrad initial_accumulator_value", .adagrad = true, .a = {.lr = 0.1, .initial_accumulator_value = 0.5},
     .want = REF_ADAGRAD_INIT_ACC},
    {"adagrad weight decay", .adagrad = true, .a = {.lr = 0.1, .weight_decay = 0.2, .eps = 0.1},
     .want = REF_ADAGRAD_WD},
    {"adagrad step lr", .adagrad = true,
     .a = {.lr = 0.1, .lr_decay = 0.05, .initial_accumulator_value = 0.1, .weight_decay = 0.01}, .sched = SCHED_STEP,
     .want = REF_ADAGRAD_STEP_LR},
};

static npg_optimizer *ref_new(const struct ref_case *c, npg_array *const *ps, int n) {
    if (c->adagrad) return npg_adagrad_new(ps, n, c->defaults ? NULL : &c->a);
    return npg_rmsprop_new(ps, n, c->defaults ? NULL : &c->r);
}

/* p.grad = the gradient of sum(a p^2 + b p), i.e. 2 a p + b. */
static void quad_grad(npg_array *p, npg_array *a, npg_array *b) {
    npg_scope s = npg_scope_begin();
    npg_zero_grad(p);
    npg_array *loss = npg_sum(npg_add(npg_multiply(npg_multiply(a, p), p), npg_multiply(b, p)), NPG_ALL_AXES, false);
    cr_assert_eq(npg_backward(loss, NULL), NPG_OK, "%s", npg_last_error());
    npg_scope_end(s);
}

Test(optim, rmsprop_and_adagrad_match_pytorch) {
    double p0[RN], a0[RN], b0[RN];
    t_fill_uniform(p0, RN, -1, 1, P_SEED);
    t_fill_uniform(a0, RN, 0.2, 1, A_SEED);
    t_fill_uniform(b0, RN, -1, 1, B_SEED);
    for (int dt = 0; dt < 2; dt++) {
        npg_dtype d = dt ? NPG_FLOAT32 : NPG_FLOAT64;
        for (int k = 0; k < COUNT(REF_CASES); k++) {
            const struct ref_case *c = &REF_CASES[k];
            t_live before = t_live_now();
            npg_scope s = npg_scope_begin();
            npg_array *p = t_arr(p0, d, NPG_SHAPE(3, 5)), *a = t_arr(a0, d, NPG_SHAPE(3, 5));
            npg_array *b = t_arr(b0, d, NPG_SHAPE(3, 5));
            npg_set_requires_grad(p, true);
            npg_optimizer *o = ref_new(c, &p, 1);
            cr_assert(o, "%s: %s", c->name, npg_last_error());
            for (int t = 0; t < RSTEPS; t++) {
                if (c->sched != SCHED_NONE) {
                    double lr = c->sched == SCHED_COSINE ? npg_lr_cosine(0.01, t, RSTEPS, 0.001)
                                                         : npg_lr_step(0.1, t, 2, 0.5);
                    npg_optimizer_set_lr(o, lr);
                    cr_assert_float_eq(npg_optimizer_get_lr(o), lr, 0);
                }
                quad_grad(p, a, b);
                cr_assert_eq(npg_optimizer_step(o), NPG_OK, "%s: %s", c->name, npg_last_error());
                char what[96];
                snprintf(what, sizeof what, "%s, step %d, %s", c->name, t + 1, npg_dtype_name(d));
                if (d == NPG_FLOAT64)
                    t_assert_close(p, c->want + t * RN, RN, 1e-12, 1e-14, what);
                else
                    t_assert_close(p, c->want + t * RN, RN, 1e-5, 1e-6, what);
            }
            npg_optimizer_free(o);
            npg_scope_end(s);
            t_assert_no_leak(before, c->name);
        }
    }
}

/* Defaults, set_lr, a parameter without a gradient (skipped: no update, no
 * state, its step count does not advance) and state made at the first
 * update only. */
Test(optim, rmsprop_and_adagrad_lr_skipping_and_lazy_state) {
    double p0[RN], a0[RN], b0[RN];
    t_fill_uniform(p0, RN, -1, 1, P_SEED);
    t_fill_uniform(a0, RN, 0.2, 1, A_SEED);
    t_fill_uniform(b0, RN, -1, 1, B_SEED);
    for (int ada = 0; ada < 2; ada++) {
        const char *name = ada ? "adagrad" : "rmsprop";
        t_live before = t_live_now();
        npg_scope s = npg_scope_begin();
        npg_array *x = t_arr(p0, NPG_FLOAT64, NPG_SHAPE(3, 5)), *y = t_arr(p0, NPG_FLOAT64, NPG_SHAPE(3, 5));
        npg_array *a = t_arr(a0, NPG_FLOAT64, NPG_SHAPE(3, 5)), *b = t_arr(b0, NPG_FLOAT64, NPG_SHAPE(3, 5));
        npg_set_requires_grad(x, true);
        npg_set_requires_grad(y, true);
        npg_array *ps[2] = {x, y};
        /* RMSprop: centered and momentum, for all three state arrays;
         * Adagrad: lr_decay 1, so step t uses lr / t */
        npg_optimizer *o = ada ? npg_adagrad_new(ps, 2, NPG_ADAGRAD_OPTS(.lr_decay = 1))
                               : npg_rmsprop_new(ps, 2, NPG_RMSPROP_OPTS(.centered = true, .momentum = 0.5));
        cr_assert(o, "%s", npg_last_error());
        cr_assert_float_eq(npg_optimizer_get_lr(o), 0.01, 0, "%s: default lr", name);
        npg_optimizer_set_lr(o, 0.5);
        cr_assert_float_eq(npg_optimizer_get_lr(o), 0.5, 0);

        /* step 1: only x has a gradient */
        quad_grad(x, a, b);
        uint64_t vy = npg_version(y);
        int64_t arrays0 = t_live_now().arrays;
        cr_assert_eq(npg_optimizer_step(o), NPG_OK, "%s", npg_last_error());
        cr_assert_eq(t_live_now().arrays - arrays0, ada ? 1 : 3, "%s: state for x only", name);
        cr_assert_eq(npg_version(y), vy, "%s: y has no gradient and is skipped", name);
        t_expect_unchanged(y, p0, RN, name);
        double want[RN];
        for (int i = 0; i < RN; i++) {
            double g = 2 * a0[i] * p0[i] + b0[i];
            /* rmsprop: avg = sqrt(0.01 g^2 - 0.0001 g^2) + 1e-8, buf = g / avg */
            want[i] = p0[i] - 0.5 * g / (ada ? fabs(g) + 1e-10 : sqrt(0.0099) * fabs(g) + 1e-8);
        }
        t_assert_close(x, want, RN, 1e-12, 1e-14, name);

        /* step 2: y's first update (Adagrad: its own step 1, so lr / 1) */
        double *x1 = t_read(x);
        npg_zero_grad(x);
        quad_grad(y, a, b);
        npg_optimizer_set_lr(o, 0.25);
        cr_assert_eq(npg_optimizer_step(o), NPG_OK, "%s", npg_last_error());
        t_expect_unchanged(x, x1, RN, name);
        free(x1);
        for (int i = 0; i < RN; i++) {
            double g = 2 * a0[i] * p0[i] + b0[i];
            want[i] = p0[i] - 0.25 * g / (ada ? fabs(g) + 1e-10 : sqrt(0.0099) * fabs(g) + 1e-8);
        }
        t_assert_close(y, want, RN, 1e-12, 1e-14, name);
        npg_optimizer_free(o);
        npg_scope_end(s);
        t_assert_no_leak(before, name);
    }
}

Test(optim, rmsprop_and_adagrad_reject_bad_options) {
    npg_scope s = npg_scope_begin();
    npg_array *w = npg_ones(NPG_SHAPE(3, 5), OPT(.requires_grad = true));
    npg_array *ints = npg_ones(NPG_SHAPE(2), OPT(.dtype = NPG_INT32));
    npg_array *nonleaf = npg_exp(w);
    t_live before = t_live_now();
    const struct {
        npg_rmsprop_opts o;
        const char *needle;
    } rc[] = {
        {{.lr = -0.1}, "lr must"},
        {{.lr = NAN}, "lr must"},
        {{.alpha = -0.5}, "alpha must"},
        {{.alpha = 1.5}, "alpha must be in [0, 1]"},
        {{.alpha = NAN}, "alpha must"},
        {{.eps = -1e-8}, "eps must"},
        {{.weight_decay = -1}, "weight_decay must"},
        {{.momentum = -0.9}, "momentum must"},
        {{.momentum = NAN}, "momentum must"},
    };
    for (int k = 0; k < COUNT(rc); k++) {
        npg_clear_error();
        cr_assert_null(npg_rmsprop_new(&w, 1, &rc[k].o), "rmsprop case %d", k);
        t_assert_error(NPG_ERR_INVALID_ARG, "npg_rmsprop_new");
        t_assert_error(NPG_ERR_INVALID_ARG, rc[k].needle);
        t_assert_no_leak(before, "npg_rmsprop_new");
    }
    const struct {
        npg_adagrad_opts o;
        const char *needle;
    } ac[] = {
        {{.lr = -0.1}, "lr must"},
        {{.lr = NAN}, "lr must"},
        {{.lr_decay = -0.1}, "lr_decay must"},
        {{.weight_decay = -1}, "weight_decay must"},
        {{.initial_accumulator_value = -0.5}, "initial_accumulator_value must"},
        {{.eps = -1e-10}, "eps must"},
        {{.eps = NAN}, "eps must"},
    };
    for (int k = 0; k < COUNT(ac); k++) {
        npg_clear_error();
        cr_assert_null(npg_adagrad_new(&w, 1, &ac[k].o), "adagrad case %d", k);
        t_assert_error(NPG_ERR_INVALID_ARG, "npg_adagrad_new");
        t_assert_error(NPG_ERR_INVALID_ARG, ac[k].needle);
        t_assert_no_leak(before, "npg_adagrad_new");
    }
    /* bad parameter lists, as for the other optimizers */
    for (int ada = 0; ada < 2; ada++) {
        const char *fn = ada ? "npg_adagrad_new" : "npg_rmsprop_new";
#define NEW(ps, n) (ada ? npg_adagrad_new(ps, n, NULL) : npg_rmsprop_new(ps, n, NULL))
        npg_clear_error();
        cr_assert_null(NEW(NULL, 1));
        t_assert_error(NPG_ERR_NULL_ARG, fn);
        npg_clear_error();
        cr_assert_null(NEW(&w, 0));
        t_assert_error(NPG_ERR_INVALID_ARG, fn);
        npg_clear_error();
        cr_assert_null(NEW(&ints, 1));
        t_assert_error(NPG_ERR_INVALID_ARG, "floating-point leaf");
        npg_clear_error();
        cr_assert_null(NEW(&nonleaf, 1));
        t_assert_error(NPG_ERR_INVALID_ARG, fn);
        t_assert_no_leak(before, fn);
#undef NEW
    }
    npg_clear_error();
    /* the edges of the ranges are accepted: alpha 1, explicit zeros */
    npg_optimizer *o = npg_rmsprop_new(&w, 1, NPG_RMSPROP_OPTS(.alpha = 1, .weight_decay = 0, .momentum = 0));
    cr_assert(o, "%s", npg_last_error());
    npg_optimizer_free(o);
    o = npg_adagrad_new(&w, 1, NPG_ADAGRAD_OPTS(.lr_decay = 0, .initial_accumulator_value = 0));
    cr_assert(o, "%s", npg_last_error());
    npg_optimizer_free(o);
    t_assert_no_leak(before, "accepted options");
    npg_scope_end(s);
}

Test(optim, defaults_skips_zero_grad_and_errors) {
    npg_scope s = npg_scope_begin();
    npg_array *a = vec(P0, 3, true), *b = vec(P0, 3, true);
    npg_array *ps[2] = {a, b};
    npg_optimizer *o = npg_adam_new(ps, 2, NULL);
    cr_assert(o);
    cr_assert_float_eq(npg_optimizer_get_lr(o), 1e-3, 0);
    npg_optimizer_set_lr(o, 0.5);
    cr_assert_float_eq(npg_optimizer_get_lr(o), 0.5, 0);
    set_grad(a, G[0], 3);
    uint64_t vb = npg_version(b);
    cr_assert_eq(npg_optimizer_step(o), NPG_OK);
    cr_assert_eq(npg_version(b), vb, "a parameter without a gradient is skipped");
    double *av = t_read(a);
    for (int i = 0; i < 3; i++) cr_assert(fabs(av[i] - (P0[i] - 0.5 * (G[0][i] > 0 ? 1 : -1))) < 1e-6, "%g", av[i]);
    free(av);
    cr_assert_not_null(npg_grad(a));
    cr_assert_eq(npg_optimizer_zero_grad(o), NPG_OK);
    cr_assert_null(npg_grad(a));
    npg_optimizer_free(o);
    cr_assert_null(npg_sgd_new(ps, 2, NPG_SGD_OPTS(.lr = 0)));
    t_assert_error(NPG_ERR_INVALID_ARG, "npg_sgd_new");
    cr_assert_null(npg_sgd_new(ps, 2, NPG_SGD_OPTS(.lr = 0.1, .nesterov = true)));
    cr_assert_null(npg_adam_new(ps, 0, NULL));
    cr_assert_null(npg_adam_new(ps, 2, NPG_ADAM_OPTS(.beta1 = 1.5)));
    npg_array *i = npg_ones(NPG_SHAPE(2), OPT(.dtype = NPG_INT32));
    cr_assert_null(npg_sgd_new(&i, 1, NPG_SGD_OPTS(.lr = 0.1)));
    npg_array *nl = npg_exp(a);
    cr_assert_null(npg_sgd_new(&nl, 1, NPG_SGD_OPTS(.lr = 0.1)));
    t_assert_error(NPG_ERR_INVALID_ARG, "leaf");
    npg_scope_end(s);
}

Test(optim, a_step_invalidates_saved_parameters) {
    npg_scope s = npg_scope_begin();
    npg_array *w = vec(P0, 3, true);
    npg_optimizer *o = npg_sgd_new(&w, 1, NPG_SGD_OPTS(.lr = 0.1));
    npg_array *loss = npg_sum(npg_square(w), NPG_ALL_AXES, false);
    cr_assert_eq(npg_backward_ex(loss, NULL, NPG_BACKWARD_OPTS(.retain_graph = true)), NPG_OK);
    cr_assert_eq(npg_optimizer_step(o), NPG_OK);
    cr_assert_eq(npg_backward(loss, NULL), NPG_ERR_INPLACE, "the step changed w, which square saved");
    t_assert_error(NPG_ERR_INPLACE, "square");
    npg_optimizer_free(o);
    npg_scope_end(s);
}

Test(optim, clip_grad_norm) {
    npg_scope s = npg_scope_begin();
    npg_array *a = vec(P0, 3, true), *b = vec(P0, 2, true);
    set_grad(a, (double[]){3, 0, 0}, 3);
    set_grad(b, (double[]){0, 4}, 2);
    npg_array *ps[2] = {a, b};
    double n = npg_clip_grad_norm(ps, 2, 1.0);
    cr_assert_float_eq(n, 5.0, 1e-12);
    double ga[3] = {0.6, 0, 0}, gb[2] = {0, 0.8};
    t_assert_close(npg_grad(a), ga, 3, 1e-5, 1e-7, "clipped a");
    t_assert_close(npg_grad(b), gb, 2, 1e-5, 1e-7, "clipped b");
    cr_assert_float_eq(npg_clip_grad_norm(ps, 2, 10.0), 1.0, 1e-5);
    t_assert_close(npg_grad(a), ga, 3, 1e-5, 1e-7, "unchanged under the limit");
    cr_assert(isnan(npg_clip_grad_norm(ps, 2, 0)));
    t_assert_error(NPG_ERR_INVALID_ARG, "max_norm");
    npg_scope_end(s);
}

Test(optim, lr_schedules) {
    cr_assert_float_eq(npg_lr_step(1.0, 0, 10, 0.5), 1.0, 0);
    cr_assert_float_eq(npg_lr_step(1.0, 25, 10, 0.5), 0.25, 1e-15);
    cr_assert_float_eq(npg_lr_cosine(1.0, 0, 100, 0.0), 1.0, 1e-15);
    cr_assert_float_eq(npg_lr_cosine(1.0, 50, 100, 0.0), 0.5, 1e-15);
    cr_assert_float_eq(npg_lr_cosine(1.0, 100, 100, 0.1), 0.1, 1e-15);
    cr_assert_float_eq(npg_lr_cosine(2.0, 25, 100, 0.0), 2.0 * (1 + cos(3.14159265358979323846 / 4)) / 2, 1e-12);
    cr_assert_float_eq(npg_lr_warmup(1.0, 0, 4), 0.25, 1e-15);
    cr_assert_float_eq(npg_lr_warmup(1.0, 3, 4), 1.0, 1e-15);
    cr_assert_float_eq(npg_lr_warmup(1.0, 10, 4), 1.0, 1e-15);
}

Test(optim, params_save_and_load) {
    npg_scope s = npg_scope_begin();
    char dir[] = "/tmp/npg_params_XXXXXX";
    cr_assert(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/ckpt.npz", dir);
    npg_params *p = npg_params_new();
    npg_array *w = npg_randn(NPG_SHAPE(4, 3), OPT(.requires_grad = true));
    npg_array *b = npg_arange(0, 3, 1, OPT(.dtype = NPG_FLOAT64, .requires_grad = true));
    cr_assert_eq(npg_params_add(p, "layer.weight", w), NPG_OK);
    cr_assert_eq(npg_params_add(p, "layer.bias", b), NPG_OK);
    cr_assert_eq(npg_params_add(p, "layer.bias", b), NPG_ERR_INVALID_ARG);
    cr_assert_eq(npg_params_count(p), 2);
    cr_assert_str_eq(npg_params_name(p, 1), "layer.bias");
    /* out of range: NULL with an error (found by test_fuzz.c: it set none) */
    npg_clear_error();
    cr_assert_null(npg_params_get(p, 2));
    t_assert_error(NPG_ERR_INDEX, "npg_params_get");
    npg_clear_error();
    cr_assert_null(npg_params_name(p, -1));
    t_assert_error(NPG_ERR_INDEX, "npg_params_name");
    npg_clear_error();
    cr_assert_null(npg_params_get(NULL, 0));
    t_assert_error(NPG_ERR_NULL_ARG, "npg_params_get");
    npg_clear_error();
    cr_assert_eq(npg_params_find(p, "layer.weight"), w);
    cr_assert_null(npg_params_find(p, "nope"));
    cr_assert_eq(npg_params_numel(p), 15);
    cr_assert_eq(npg_params_save(p, path), NPG_OK, "%s", npg_last_error());
    double *wv = t_read(w);
    npg_no_grad_begin();
    npg_fill(w, 0);
    npg_fill(b, 7);
    npg_no_grad_end();
    cr_assert_eq(npg_params_load(p, path), NPG_OK, "%s", npg_last_error());
    t_assert_close(w, wv, 12, 0, 0, "weights restored");
    t_assert_close(b, (double[]){0, 1, 2}, 3, 0, 0, "bias restored");
    free(wv);
    /* mismatches change nothing */
    npg_params *q = npg_params_new();
    npg_array *w2 = npg_ones(NPG_SHAPE(4, 4), OPT());
    npg_params_add(q, "layer.weight", w2);
    cr_assert_eq(npg_params_load(q, path), NPG_ERR_SHAPE);
    t_assert_error(NPG_ERR_SHAPE, "layer.weight");
    cr_assert_float_eq(npg_item(npg_sum(w2, NPG_ALL_AXES, false)), 16.0, 0);
    npg_params *r = npg_params_new();
    npg_params_add(r, "missing", w2);
    cr_assert_eq(npg_params_load(r, path), NPG_ERR_FORMAT);
    t_assert_error(NPG_ERR_FORMAT, "missing");
    cr_assert_eq(npg_params_load(r, "/nonexistent/x.npz"), NPG_ERR_IO);
    npg_params_free(p);
    npg_params_free(q);
    npg_params_free(r);
    unlink(path);
    rmdir(dir);
    npg_scope_end(s);
}

/* The first 1,000 Fashion-MNIST training images (N, 784) in [0, 1] and
 * their labels, in the current scope; skips the test when the dataset is
 * not installed. */
static void fashion_subset(npg_array **x, npg_array **y) {
    const char *dir = "/usr/share/datasets/fashion-mnist";
    char p1[256], p2[256];
    snprintf(p1, sizeof p1, "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(p2, sizeof p2, "%s/train-labels-idx1-ubyte.gz", dir);
    if (access(p1, R_OK) != 0) cr_skip_test("Fashion-MNIST is not installed (dataset-fashion-mnist)");
    npg_array *xa = npg_load_idx(p1, OPT(.dtype = NPG_FLOAT32));
    npg_array *ya = npg_load_idx(p2, OPT(.dtype = NPG_INT64));
    cr_assert(xa && ya, "%s", npg_last_error());
    *x = npg_divide_scalar(npg_reshape(NPG_INDEX(xa, NPG_SLICE(0, 1000, 1)), NPG_SHAPE(1000, 784)), 255.0);
    *y = NPG_INDEX(ya, NPG_SLICE(0, 1000, 1));
}

/* The 784-64-10 MLP's parameters {w1, b1, w2, b2} (in the current scope),
 * weights drawn by Kaiming-uniform from the global generator. */
static void mlp_params(npg_array *ps[4]) {
    ps[0] = npg_empty(NPG_SHAPE(64, 784), OPT(.requires_grad = true));
    ps[1] = npg_zeros(NPG_SHAPE(64), OPT(.requires_grad = true));
    ps[2] = npg_empty(NPG_SHAPE(10, 64), OPT(.requires_grad = true));
    ps[3] = npg_zeros(NPG_SHAPE(10), OPT(.requires_grad = true));
    npg_init_kaiming_uniform(ps[0], NULL);
    npg_init_kaiming_uniform(ps[2], NULL);
}

/* 200 steps on 1,000 Fashion-MNIST images must lower the loss. */
Test(optim, short_training_run_lowers_the_loss, .timeout = 600) {
    npg_scope s = npg_scope_begin();
    npg_array *x, *y;
    fashion_subset(&x, &y);
    npg_seed(1);
    npg_array *ps[4];
    mlp_params(ps);
    npg_array *w1 = ps[0], *b1 = ps[1], *w2 = ps[2], *b2 = ps[3];
    npg_optimizer *o = npg_sgd_new(ps, 4, NPG_SGD_OPTS(.lr = 0.05, .momentum = 0.9));
    npg_loader *l = npg_loader_new(x, y, &(npg_loader_opts){.batch_size = 50, .shuffle = true});
    cr_assert(o && l, "%s", npg_last_error());
    double first = 0, last = 0;
    int steps = 0;
    while (steps < 200) {
        npg_array *xb, *yb;
        if (!npg_loader_next(l, &xb, &yb)) {
            cr_assert_eq(npg_last_status(), NPG_OK, "%s", npg_last_error());
            continue;
        }
        npg_scope st = npg_scope_begin();
        npg_array *loss = npg_cross_entropy(npg_linear(npg_relu(npg_linear(xb, w1, b1)), w2, b2), yb, NULL);
        cr_assert_eq(npg_backward(loss, NULL), NPG_OK, "%s", npg_last_error());
        cr_assert_eq(npg_optimizer_step(o), NPG_OK);
        npg_optimizer_zero_grad(o);
        double lv = npg_item(loss);
        if (steps < 10) first += lv / 10;
        if (steps >= 190) last += lv / 10;
        npg_scope_end(st);
        npg_free(xb);
        npg_free(yb);
        steps++;
    }
    cr_assert_lt(last, first * 0.5, "mean loss of the first 10 steps %g, of the last 10 %g", first, last);
    npg_loader_free(l);
    npg_optimizer_free(o);
    npg_scope_end(s);
}

/* A NULL parameter is reported before bad hyper-parameters or other bad
 * parameters, keeping the error that produced it. */
Test(optim, null_parameter_keeps_the_pending_error) {
    npg_scope s = npg_scope_begin();
    npg_array *w = npg_ones(NPG_SHAPE(2), NPG_OPTS(.requires_grad = true));
    npg_array *bad = npg_reshape(w, NPG_SHAPE(5)); /* NULL, NPG_ERR_SHAPE pending */
    npg_array *ps[3] = {npg_exp(w) /* not a leaf */, w, bad};
    cr_assert_null(npg_sgd_new(ps, 3, NPG_SGD_OPTS(.lr = -1)));
    cr_assert_eq(npg_last_status(), NPG_ERR_SHAPE, "%s", npg_last_error());
    cr_assert_null(npg_adam_new(ps, 3, NPG_ADAM_OPTS(.beta1 = 2)));
    cr_assert_eq(npg_last_status(), NPG_ERR_SHAPE, "%s", npg_last_error());
    cr_assert_null(npg_adamw_new(ps, 3, NULL));
    cr_assert_eq(npg_last_status(), NPG_ERR_SHAPE, "%s", npg_last_error());
    cr_assert_null(npg_rmsprop_new(ps, 3, NPG_RMSPROP_OPTS(.alpha = 2)));
    cr_assert_eq(npg_last_status(), NPG_ERR_SHAPE, "%s", npg_last_error());
    cr_assert_null(npg_adagrad_new(ps, 3, NPG_ADAGRAD_OPTS(.lr = -1)));
    cr_assert_eq(npg_last_status(), NPG_ERR_SHAPE, "%s", npg_last_error());
    npg_clear_error();
    npg_scope_end(s);
}

/* ---- npg_grad_scaler --------------------------------------------------------- */

/* One iteration of loss = sum(p * g) through the scaler; returns whether
 * the optimizer stepped. */
static bool scaled_iteration(npg_grad_scaler *sc, npg_optimizer *opt, npg_array *p, const double *g, int n) {
    npg_scope s = npg_scope_begin();
    npg_zero_grad(p);
    npg_array *gv = npg_astype(vec(g, n, false), npg_dtype_of(p));
    npg_array *loss = npg_grad_scaler_scale(sc, npg_sum(npg_multiply(p, gv), NPG_ALL_AXES, false));
    cr_assert(loss, "%s", npg_last_error());
    cr_assert_eq(npg_backward(loss, NULL), NPG_OK, "%s", npg_last_error());
    bool stepped = true;
    cr_assert_eq(npg_grad_scaler_step(sc, opt, &stepped), NPG_OK, "%s", npg_last_error());
    cr_assert_eq(npg_grad_scaler_update(sc), NPG_OK, "%s", npg_last_error());
    npg_scope_end(s);
    return stepped;
}

Test(optim, grad_scaler_steps_exactly_as_without_it_and_skips_non_finite_steps) {
    t_live live = t_live_now();
    for (int dt = 0; dt < 2; dt++) {
        npg_dtype d = dt ? NPG_FLOAT32 : NPG_FLOAT64;
        npg_scope s0 = npg_scope_begin();
        npg_array *p = npg_keep(npg_astype(vec(P0, 3, false), d)), *q = npg_keep(npg_astype(vec(P0, 3, false), d));
        npg_scope_end(s0);
        npg_set_requires_grad(p, true);
        npg_set_requires_grad(q, true);
        npg_optimizer *op = npg_adam_new(&p, 1, NPG_ADAM_OPTS(.lr = 0.1)), *oq = npg_adam_new(&q, 1, NPG_ADAM_OPTS(.lr = 0.1));
        npg_grad_scaler *sc = npg_grad_scaler_new(NPG_GRAD_SCALER_OPTS(.init_scale = 1024, .growth_interval = 2));
        cr_assert(op && oq && sc, "%s", npg_last_error());
        cr_assert_eq(npg_grad_scaler_get_scale(sc), 1024);
        /* a power-of-two scale is exact: the same parameters, bit for bit */
        for (int k = 0; k < 3; k++) {
            cr_assert(scaled_iteration(sc, op, p, G[k], 3));
            set_grad(q, G[k], 3);
            cr_assert_eq(npg_optimizer_step(oq), NPG_OK);
            double *hq = t_read(q);
            t_assert_close(p, hq, 3, 0, 0, "scaled vs plain step");
            free(hq);
        }
        /* growth: two clean updates per doubling (three so far: one doubling) */
        cr_assert_eq(npg_grad_scaler_get_scale(sc), 2048);
        /* an inf gradient: no step, the scale halves, the count restarts */
        double *before = t_read(p);
        const double ginf[3] = {1, INFINITY, 0}, gnan[3] = {NAN, 0, 0};
        cr_assert(!scaled_iteration(sc, op, p, ginf, 3));
        cr_assert_eq(npg_grad_scaler_get_scale(sc), 1024);
        cr_assert(!scaled_iteration(sc, op, p, gnan, 3));
        cr_assert_eq(npg_grad_scaler_get_scale(sc), 512);
        t_expect_unchanged(p, before, 3, "skipped steps");
        free(before);
        cr_assert(scaled_iteration(sc, op, p, G[0], 3));
        cr_assert_eq(npg_grad_scaler_get_scale(sc), 512);
        cr_assert(scaled_iteration(sc, op, p, G[1], 3));
        cr_assert_eq(npg_grad_scaler_get_scale(sc), 1024);
        npg_grad_scaler_free(sc);
        npg_optimizer_free(op);
        npg_optimizer_free(oq);
        npg_free(p);
        npg_free(q);
    }
    t_assert_no_leak(live, "grad scaler");
}

Test(optim, grad_scaler_keeps_float16_gradients_from_underflowing) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    /* a float32 parameter used in float16, w16 = astype(w, float16), and
     * loss = sum(w16 * 2^-20 * 2^-10): the gradient 2^-30 per element is
     * below float16's smallest subnormal (2^-24), so without scaling it
     * reaches w as zeros; scaled by 2^14 it is 2^-16 in float16, exact, and
     * 2^-30 again once unscaled in float32 */
    double w0[4] = {0.5, -0.25, 1, 2};
    npg_array *w = t_leaf(npg_astype(vec(w0, 4, false), NPG_FLOAT32));
    npg_array *small = npg_full(NPG_SHAPE(4), 0x1p-20, OPT(.dtype = NPG_FLOAT16));
    npg_optimizer *opt = npg_sgd_new(&w, 1, NPG_SGD_OPTS(.lr = 1));
    npg_grad_scaler *sc = npg_grad_scaler_new(NPG_GRAD_SCALER_OPTS(.init_scale = 0x1p14));
    cr_assert(opt && sc, "%s", npg_last_error());
    for (int scaled = 0; scaled < 2; scaled++) {
        npg_zero_grad(w);
        npg_array *y = npg_sum(npg_multiply_scalar(npg_multiply(npg_astype(w, NPG_FLOAT16), small), 0x1p-10),
                               NPG_ALL_AXES, false);
        cr_assert_eq(npg_dtype_of(y), NPG_FLOAT16);
        cr_assert_eq(npg_backward(scaled ? npg_grad_scaler_scale(sc, y) : y, NULL), NPG_OK, "%s", npg_last_error());
        if (scaled) cr_assert_eq(npg_grad_scaler_unscale(sc, opt), NPG_OK, "%s", npg_last_error());
        double *g = t_read(npg_grad(w));
        for (int i = 0; i < 4; i++)
            cr_assert_eq(g[i], scaled ? 0x1p-30 : 0.0, "%s: element %d is %g", scaled ? "scaled" : "unscaled", i, g[i]);
        free(g);
    }
    /* unscale twice, step after step, update with nothing recorded: errors */
    cr_assert_eq(npg_grad_scaler_unscale(sc, opt), NPG_ERR_INVALID_ARG);
    t_assert_error(NPG_ERR_INVALID_ARG, "already unscaled");
    cr_assert_eq(npg_grad_scaler_step(sc, opt, NULL), NPG_OK, "%s", npg_last_error());
    cr_assert_eq(npg_grad_scaler_step(sc, opt, NULL), NPG_ERR_INVALID_ARG);
    t_assert_error(NPG_ERR_INVALID_ARG, "already stepped");
    cr_assert_eq(npg_grad_scaler_update(sc), NPG_OK);
    cr_assert_eq(npg_grad_scaler_get_scale(sc), 0x1p14);
    cr_assert_eq(npg_grad_scaler_update(sc), NPG_ERR_INVALID_ARG);
    t_assert_error(NPG_ERR_INVALID_ARG, "npg_grad_scaler_update");
    npg_clear_error();
    cr_assert_null(npg_grad_scaler_new(NPG_GRAD_SCALER_OPTS(.backoff_factor = 1.5)));
    t_assert_error(NPG_ERR_INVALID_ARG, "backoff_factor");
    npg_clear_error();
    cr_assert_null(npg_grad_scaler_scale(sc, npg_arange(0, 3, 1, OPT(.dtype = NPG_INT64))));
    t_assert_error(NPG_ERR_DTYPE, "floating");
    npg_clear_error();
    cr_assert_null(npg_grad_scaler_scale(NULL, w));
    t_assert_error(NPG_ERR_NULL_ARG, "npg_grad_scaler_scale");
    npg_clear_error();
    /* disabled: a scale of 1 and plain steps */
    npg_grad_scaler *off = npg_grad_scaler_new(NPG_GRAD_SCALER_OPTS(.disabled = true));
    cr_assert_eq(npg_grad_scaler_get_scale(off), 1.0);
    bool stepped = false;
    cr_assert_eq(npg_grad_scaler_step(off, opt, &stepped), NPG_OK);
    cr_assert(stepped);
    npg_grad_scaler_free(off);
    /* the default scale, 2^16, is past float16's largest value (65504): the
     * first half-precision gradient is inf, the step is skipped, the scale
     * halves, and the next step goes through */
    npg_grad_scaler *dflt = npg_grad_scaler_new(NULL);
    double *w_before = t_read(w);
    for (int k = 0; k < 2; k++) {
        npg_zero_grad(w);
        npg_array *y = npg_sum(npg_multiply(npg_astype(w, NPG_FLOAT16), small), NPG_ALL_AXES, false);
        cr_assert_eq(npg_backward(npg_grad_scaler_scale(dflt, y), NULL), NPG_OK, "%s", npg_last_error());
        cr_assert_eq(npg_grad_scaler_step(dflt, opt, &stepped), NPG_OK, "%s", npg_last_error());
        cr_assert_eq(stepped, k == 1, "step %d", k);
        if (k == 0) t_expect_unchanged(w, w_before, 4, "the skipped step");
        cr_assert_eq(npg_grad_scaler_update(dflt), NPG_OK);
        cr_assert_eq(npg_grad_scaler_get_scale(dflt), 32768.0);
    }
    free(w_before);
    npg_grad_scaler_free(dflt);
    npg_grad_scaler_free(sc);
    npg_optimizer_free(opt);
    npg_scope_end(s);
    t_assert_no_leak(live, "grad scaler float16");
}

/* Mixed precision on a Fashion-MNIST subset, as the main job's --precision
 * does it: float32 parameters cast to `compute` for the layers, logits back
 * in float32, loss scaling for float16. Returns the mean loss of the first
 * and last 10 of 150 Adam steps; *skipped counts the steps the scaler
 * skipped. */
static void mixed_precision_run(npg_array *x, npg_array *y, npg_dtype compute, double *first, double *last,
                                int *skipped) {
    npg_scope s = npg_scope_begin();
    npg_seed(3);
    npg_array *ps[4];
    mlp_params(ps);
    npg_array *w1 = ps[0], *b1 = ps[1], *w2 = ps[2], *b2 = ps[3];
    npg_optimizer *o = npg_adam_new(ps, 4, NPG_ADAM_OPTS(.lr = 2e-3));
    npg_grad_scaler *sc = npg_grad_scaler_new(NPG_GRAD_SCALER_OPTS(.disabled = compute != NPG_FLOAT16));
    npg_generator *g = npg_generator_new(5);
    npg_loader *l = npg_loader_new(x, y, &(npg_loader_opts){.batch_size = 50, .shuffle = true, .generator = g});
    cr_assert(o && sc && l, "%s", npg_last_error());
    *first = *last = 0;
    *skipped = 0;
    for (int steps = 0; steps < 150;) {
        npg_array *xb, *yb;
        if (!npg_loader_next(l, &xb, &yb)) {
            cr_assert_eq(npg_last_status(), NPG_OK, "%s", npg_last_error());
            continue;
        }
        npg_scope st = npg_scope_begin();
        npg_array *c[5] = {xb, w1, b1, w2, b2};
        for (int k = 0; compute && k < 5; k++) c[k] = npg_astype(c[k], compute);
        npg_array *logits = npg_linear(npg_relu(npg_linear(c[0], c[1], c[2])), c[3], c[4]);
        if (compute) cr_assert_eq(npg_dtype_of(logits), compute);
        npg_array *loss = npg_cross_entropy(npg_astype(logits, NPG_FLOAT32), yb, NULL);
        cr_assert_eq(npg_backward(npg_grad_scaler_scale(sc, loss), NULL), NPG_OK, "%s", npg_last_error());
        cr_assert_eq(npg_dtype_of(npg_grad(w1)), NPG_FLOAT32);
        bool stepped;
        cr_assert_eq(npg_grad_scaler_step(sc, o, &stepped), NPG_OK, "%s", npg_last_error());
        cr_assert_eq(npg_grad_scaler_update(sc), NPG_OK);
        *skipped += !stepped;
        npg_optimizer_zero_grad(o);
        double lv = npg_item(loss);
        if (steps < 10) *first += lv / 10;
        if (steps >= 140) *last += lv / 10;
        npg_scope_end(st);
        npg_free(xb);
        npg_free(yb);
        steps++;
    }
    npg_loader_free(l);
    npg_generator_free(g);
    npg_grad_scaler_free(sc);
    npg_optimizer_free(o);
    npg_scope_end(s);
}

Test(optim, mixed_precision_training_follows_float32, .timeout = 600) {
    t_live live = t_live_now();
    npg_scope s = npg_scope_begin();
    npg_array *x, *y;
    fashion_subset(&x, &y);
    double f32[2], r[2];
    int skipped;
    mixed_precision_run(x, y, 0, &f32[0], &f32[1], &skipped);
    cr_assert_eq(skipped, 0);
    cr_assert_lt(f32[1], 0.5 * f32[0], "float32: %g -> %g", f32[0], f32[1]);
    const npg_dtype dts[2] = {NPG_BFLOAT16, NPG_FLOAT16};
    for (int d = 0; d < 2; d++) {
        mixed_precision_run(x, y, dts[d], &r[0], &r[1], &skipped);
        /* the same start (the loss before training is float32's within the
         * half type's rounding) and an end within 8% of float32's (measured
         * on the VM: bfloat16 2.5% above it, float16 0.5% below) */
        cr_assert(fabs(r[0] - f32[0]) < 0.02 * f32[0], "%s: first losses %g vs float32's %g", npg_dtype_name(dts[d]),
                  r[0], f32[0]);
        cr_assert(fabs(r[1] - f32[1]) < 0.08 * f32[1], "%s: last losses %g vs float32's %g", npg_dtype_name(dts[d]),
                  r[1], f32[1]);
        /* float16 at the default scale 2^16: the scaler skips the steps whose
         * gradients overflow and lowers the scale, a few at most. Whether any
         * of the 150 overflows depends on the summation order (the CPU: step
         * 107; the CUDA backend on the emulator, cuBLAS's order: none), so
         * the count may be 0; grad_scaler_keeps_float16_gradients_from_underflowing
         * tests the skip itself, deterministically. bfloat16 is unscaled. */
        if (dts[d] == NPG_FLOAT16)
            cr_assert(skipped <= 5, "float16: %d steps skipped", skipped);
        else
            cr_assert_eq(skipped, 0, "bfloat16: %d steps skipped", skipped);
    }
    npg_scope_end(s);
    t_assert_no_leak(live, "mixed precision");
}
